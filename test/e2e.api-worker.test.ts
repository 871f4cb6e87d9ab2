// Issue 2's end-to-end path over real HTTP: POST an MNIST mlp experiment -> a BullMQ job -> a real worker trains it
// -> GET returns the completed run document. A malformed body gets 400 problem+json and nothing is queued.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { RunDocument, WorkerList } from '@quantlab/shared';
import { buildApp } from '@quantlab/api/app';
import { startWorker, type RunningWorker } from '@quantlab/worker';
import { testEnv, keysUnder } from './helpers/redis.ts';
import { harness, sleep, type Harness } from './helpers/worker.ts';
import { TEST_BACKEND } from './helpers/backend.ts';

const env = testEnv('e2e-api-worker', { TFJS_BACKEND: TEST_BACKEND });
let app: FastifyInstance;
let base: string;
let worker: RunningWorker;
let h: Harness;

before(async () => {
  app = await buildApp({ env, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  h = harness(env);
});

after(async () => {
  await worker?.close();
  await app?.close();
  await h?.close();
  await env.cleanup();
});

test('a malformed body gets 400 problem+json with the validation issues, and nothing is queued', async () => {
  const res = await fetch(`${base}/experiments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataset: 'mnist', model: 'mlp', epochs: 'many' }) });
  assert.equal(res.status, 400);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const problem = (await res.json()) as { status: number; title: string; issues: { path: unknown[]; message: string }[] };
  assert.equal(problem.status, 400);
  assert.ok(problem.issues.length >= 1);
  const counts = await h.queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  assert.ok(Object.values(counts).every((n) => n === 0), JSON.stringify(counts));
  assert.deepEqual((await keysUnder(env.KEY_PREFIX)).filter((k) => k.includes(':run:')), []);
});

test('POST an MNIST mlp experiment of 1 epoch; a real worker trains it; GET shows it completed above 0.8', { timeout: 120_000 }, async () => {
  worker = await startWorker(env);
  const workers = (await (await fetch(`${base}/workers`)).json()) as WorkerList;
  assert.deepEqual(workers.items.map((w) => w.id), [worker.id]);

  const res = await fetch(`${base}/experiments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'e2e mnist mlp', dataset: 'mnist', model: 'mlp', training: { epochs: 1 } }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };

  let doc: RunDocument | null = null;
  const seen = new Set<string>();
  const until = Date.now() + 100_000;
  while (Date.now() < until) {
    const r = await fetch(`${base}/experiments/${id}`);
    assert.equal(r.status, 200);
    doc = (await r.json()) as RunDocument;
    seen.add(doc.status);
    if (doc.status !== 'queued' && doc.status !== 'running') break;
    await sleep(250);
  }
  assert.ok(doc);
  assert.equal(doc.status, 'completed', doc.error?.message);
  assert.ok(seen.has('running') || seen.has('queued'));
  assert.ok(doc.metrics.testAccuracy! > 0.8, `test accuracy ${doc.metrics.testAccuracy}`);
  assert.equal(doc.epochs.length, 1);
  assert.equal(doc.workerId, worker.id);
  assert.equal(doc.dataset?.name, 'mnist');
  assert.ok(doc.metrics.backend);
});
