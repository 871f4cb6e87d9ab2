// A private redis-server with append-only persistence is restarted during a run: no completed run, queued run or
// recorded epoch is lost, and the worker and the API reconnect by themselves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RunDocument } from '@quantlab/shared';
import { buildApp } from '@quantlab/api/app';
import { testEnv } from './helpers/redis.ts';
import { sleep, spawnWorker, waitUntil } from './helpers/worker.ts';
import { TEST_BACKEND } from './helpers/backend.ts';

async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''], { stdio: 'ignore' });
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  probe.on('error', () => {});
  try {
    await waitUntil(`redis-server on ${port}`, () => probe.ping().then((r) => r === 'PONG', () => false), 10_000, 50);
  } finally {
    probe.disconnect();
  }
  return child;
}

test('restart a private AOF redis-server mid-run: every run and metric survives; worker and API reconnect', { timeout: 150_000 }, async () => {
  const port = 6390 + Math.floor(Math.random() * 500);
  const dir = mkdtempSync(join(tmpdir(), 'ql-redis-'));
  let redis = await startRedis(port, dir);
  const env = testEnv('fault-redis', { REDIS_URL: `redis://127.0.0.1:${port}`, TFJS_BACKEND: TEST_BACKEND });
  const app = await buildApp({ env, logger: false });
  const worker = await spawnWorker(env);
  const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const r = await app.inject({ method: method as 'GET', url: path, ...(body ? { payload: body as object } : {}) });
    return { status: r.statusCode, body: r.json() as T };
  };
  const submit = async (body: object) => {
    const r = await api<{ id: string }>('POST', '/experiments', body);
    assert.equal(r.status, 202);
    return r.body.id;
  };
  const poll = async (id: string, timeoutMs: number) =>
    waitUntil(
      `run ${id} to finish`,
      async () => {
        const r = await api<RunDocument>('GET', `/experiments/${id}`).catch(() => null);
        return r?.status === 200 && ['completed', 'failed', 'cancelled'].includes(r.body.status) ? r.body : null;
      },
      timeoutMs,
      200,
    );
  try {
    const tiny = { dataset: 'synthetic', model: 'mlp', training: { epochs: 1, trainLimit: 200 } };
    const done = await poll(await submit(tiny), 30_000);
    assert.equal(done.status, 'completed');

    const long = await submit({ dataset: 'mnist', model: 'mlp', training: { epochs: 4, trainLimit: 3000, seed: 2 } });
    const queued = [await submit(tiny), await submit(tiny)]; // wait behind it (concurrency 1)
    const mid = await waitUntil('epoch 1', async () => {
      const r = await api<RunDocument>('GET', `/experiments/${long}`);
      return r.body.epochs.length >= 1 ? r.body : null;
    }, 60_000, 50);

    // SIGTERM: redis-server flushes its append-only file and exits, as on a host restart; then up again.
    redis.kill('SIGTERM');
    await new Promise((r) => redis.once('exit', r));
    await sleep(1_000);
    redis = await startRedis(port, dir);

    const after = await poll(long, 90_000);
    assert.equal(after.status, 'completed', after.error?.message);
    assert.deepEqual(after.epochs.map((e) => e.epoch), [1, 2, 3, 4]);
    assert.deepEqual(after.epochs[0], mid.epochs[0], 'the epoch recorded before the restart is still there');
    for (const id of queued) assert.equal((await poll(id, 30_000)).status, 'completed');
    const again = (await api<RunDocument>('GET', `/experiments/${done.id}`)).body;
    assert.deepEqual(again, done, 'the run completed before the restart is unchanged');

    // The API's connections came back: a new run is accepted and trained.
    const fresh = await poll(await submit(tiny), 30_000);
    assert.equal(fresh.status, 'completed');
    const list = await api<{ items: RunDocument[] }>('GET', '/experiments?limit=50');
    assert.equal(list.body.items.length, 5);
  } finally {
    worker.child.kill('SIGKILL');
    await worker.exited;
    await app.close().catch(() => {});
    redis.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
