// 200 tiny runs over 3 worker processes competing for one queue: every run completes exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentConfig, runJob, type RunEvent } from '@quantlab/shared';
import { testEnv } from './helpers/redis.ts';
import { harness, newRunDoc, recordEvents, killAll, spawnWorker, waitUntil } from './helpers/worker.ts';
import { TEST_BACKEND } from './helpers/backend.ts';

const RUNS = 200;

test(`${RUNS} tiny runs over 3 worker processes: every run completes exactly once`, { timeout: 150_000 }, async () => {
  const env = testEnv('fault-many', { LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000', TFJS_BACKEND: TEST_BACKEND });
  const h = harness(env);
  const rec = await recordEvents(env);
  const workers = await Promise.all([spawnWorker(env), spawnWorker(env), spawnWorker(env)]);
  try {
    const config = ExperimentConfig.parse({ dataset: 'synthetic', model: 'mlp', training: { epochs: 1, batchSize: 100, trainLimit: 100, testLimit: 50 } });
    const docs = Array.from({ length: RUNS }, (_, i) => newRunDoc({ ...config, name: `tiny-${i}` }));
    for (const d of docs) await h.store.create(d);
    await h.queue.addBulk(docs.map((d) => runJob(d)));

    const t0 = Date.now();
    await waitUntil('every run to finish', async () => (await h.queue.getJobCounts('completed', 'failed')).completed + (await h.queue.getJobCounts('failed')).failed >= RUNS, 120_000, 250);
    const seconds = (Date.now() - t0) / 1000;

    const final = await h.store.getMany(docs.map((d) => d.id));
    assert.equal(final.length, RUNS);
    const notDone = final.filter((d) => d.status !== 'completed');
    assert.deepEqual(notDone.map((d) => `${d.id}: ${d.status} ${d.error?.message ?? ''}`), []);
    assert.ok(final.every((d) => d.attempts === 1 && d.epochs.length === 1));

    for (const d of docs) await rec.untilFinal(d.id);
    const byRun = new Map<string, RunEvent[]>();
    for (const e of rec.events) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
    for (const d of docs) {
      const evs = byRun.get(d.id) ?? [];
      assert.deepEqual(evs.filter((e) => e.type === 'status').map((e) => (e as { status: string }).status), ['running', 'completed'], d.id);
      assert.equal(evs.filter((e) => e.type === 'epoch').length, 1, d.id);
    }
    const counts = await h.queue.getJobCounts('completed', 'failed', 'active', 'wait', 'delayed');
    assert.deepEqual(counts, { completed: RUNS, failed: 0, active: 0, wait: 0, delayed: 0 });

    // The three processes shared the work.
    const perWorker = new Map<string, number>();
    for (const d of final) perWorker.set(d.workerId!, (perWorker.get(d.workerId!) ?? 0) + 1);
    assert.equal(perWorker.size, 3, JSON.stringify([...perWorker]));
    console.log(`# ${RUNS} runs over 3 workers in ${seconds.toFixed(1)} s: ${JSON.stringify([...perWorker.values()])}`);
  } finally {
    await killAll(workers);
    await rec.close();
    await h.close();
    await env.cleanup();
  }
});
