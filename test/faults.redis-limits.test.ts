// Redis hung (process stopped, TCP up) and Redis full (maxmemory, noeviction), on a private redis-server (issue 14,
// finding 6 and the memory limit): the API answers 503 / 507 in bounded time, writes nothing half, loses nothing queued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { InjectOptions } from 'fastify';
import { PROBLEM_BASE, parseEnv } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { startPrivateRedis, testEnv } from './helpers/redis.ts';
import { waitUntil } from './helpers/worker.ts';

const RUN = { dataset: 'mnist', model: 'mlp' } as const;

test('a hung Redis: /healthz, reads and writes answer 503 within about REDIS_COMMAND_TIMEOUT_MS; nothing is half-written', { timeout: 60_000 }, async () => {
  const redis = await startPrivateRedis();
  const env = testEnv('redis-hang', { REDIS_URL: redis.url });
  assert.equal(parseEnv({}).REDIS_COMMAND_TIMEOUT_MS, 2000, 'the default');
  const app = await buildApp({ env, logger: false });
  const probe = new Redis(redis.url);
  try {
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const before = await app.inject({ method: 'POST', url: '/experiments', payload: RUN });
    assert.equal(before.statusCode, 202);

    redis.child.kill('SIGSTOP');
    const timed = async (opts: InjectOptions) => {
      const t0 = Date.now();
      const r = await app.inject(opts);
      return { r, ms: Date.now() - t0 };
    };
    const [health, list, post] = await Promise.all([
      timed({ method: 'GET', url: '/healthz' }),
      timed({ method: 'GET', url: '/experiments' }),
      timed({ method: 'POST', url: '/experiments', payload: RUN }),
    ]);
    assert.equal(health.r.statusCode, 503);
    assert.equal(health.r.json().status, 'degraded');
    assert.ok(health.ms < 2_600, `/healthz took ${health.ms} ms`);
    for (const { r, ms } of [list, post]) {
      assert.equal(r.statusCode, 503, r.body);
      assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(r.json().type, `${PROBLEM_BASE}unavailable`);
      assert.ok(ms < 2_600, `${r.json().instance} took ${ms} ms`);
    }

    redis.child.kill('SIGCONT');
    await waitUntil('/healthz to recover', async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200, 10_000);
    // The refused POST's MULTI ran when Redis resumed, and the undo queued behind it: only the first run exists.
    await waitUntil('the refused run to be undone', async () => (await probe.zcard(app.ql.runs.keys.runs)) === 1, 5_000);
    const ids = await probe.zrange(app.ql.runs.keys.runs, 0, -1);
    assert.deepEqual(ids, [before.json().id]);
    assert.equal((await app.ql.queue.getJobCounts('waiting', 'prioritized')).waiting + (await app.ql.queue.getJobCounts('prioritized')).prioritized, 1);
  } finally {
    probe.disconnect();
    await redis.stop();
    await app.close();
  }
});

test('Redis at maxmemory: writes answer 507 and store nothing, reads still work, the queue is intact', { timeout: 60_000 }, async () => {
  const redis = await startPrivateRedis(['--maxmemory-policy', 'noeviction']);
  const env = testEnv('redis-full', { REDIS_URL: redis.url });
  const app = await buildApp({ env, logger: false });
  const probe = new Redis(redis.url);
  try {
    const queued = await app.inject({ method: 'POST', url: '/experiments', payload: RUN });
    assert.equal(queued.statusCode, 202);
    // The start-up index pass (beside the requests) marks the namespace once it has seen a run: let it finish first.
    await waitUntil('the run index marker', async () => (await probe.keys('*runs:indexed')).length === 1, 10_000, 20);
    const keysBefore = (await probe.keys('*')).sort();
    // Full: maxmemory below what is used, so with noeviction Redis refuses every command that may add memory.
    // (Filling up to a limit just above use was racy: Redis shrinks idle query buffers on its own schedule,
    // which freed room for one more write in CI.)
    const used = Number(/used_memory:(\d+)/.exec(await probe.info('memory'))![1]);
    await probe.config('SET', 'maxmemory', String(Math.floor(used / 2)));
    assert.match(await probe.set('probe', 'x').then(() => 'stored', (e: Error) => e.message), /OOM/);

    for (const req of [
      { method: 'POST', url: '/experiments', payload: RUN },
      { method: 'POST', url: '/experiments', payload: RUN, headers: { 'idempotency-key': 'full-1' } },
      { method: 'POST', url: '/sweeps', payload: { base: RUN, vary: { representation: [{ kind: 'fixed', bits: [4, 8] }] } } },
    ] as const) {
      const r = await app.inject(req as InjectOptions);
      assert.equal(r.statusCode, 507, `${req.url}: ${r.body}`);
      assert.equal(r.json().type, `${PROBLEM_BASE}insufficient-storage`);
      assert.ok(Number(r.headers['retry-after']) > 0);
    }
    assert.deepEqual((await probe.keys('*')).sort(), keysBefore, 'no key was added');
    assert.equal((await app.inject({ method: 'GET', url: '/experiments' })).statusCode, 200, 'reads still work');
    const job = await app.ql.queue.getJob(queued.json().id);
    assert.ok(job && ['waiting', 'prioritized'].includes(await job.getState()), 'the queued job is intact');

    await probe.config('SET', 'maxmemory', '0');
    assert.equal((await app.inject({ method: 'POST', url: '/experiments', payload: RUN })).statusCode, 202, 'writes work again once there is room');
  } finally {
    probe.disconnect();
    await redis.stop();
    await app.close();
  }
});
