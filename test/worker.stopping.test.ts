// The worker and the sweep's stopping rule, in this process against the real Redis: a stop decided before a restart
// still ends the run, and a stop decided at an epoch report ends a training run at its next batch.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentConfig, StoppingStore, newRunDocument, type StoppingRule } from '@quantlab/shared';
import { startWorker, type RunningWorker } from '@quantlab/worker';
import { testEnv } from './helpers/redis.ts';
import { harness, type Harness } from './helpers/worker.ts';

const env = testEnv('worker-stopping', { TFJS_BACKEND: 'wasm' });
let h: Harness;
let stopping: StoppingStore;
let worker: RunningWorker;
before(async () => {
  h = harness(env);
  stopping = new StoppingStore(h.redis, env.KEY_PREFIX);
  worker = await startWorker(env);
});
after(async () => {
  await worker?.close();
  await h?.close();
  await env.cleanup();
});

const rule: StoppingRule = { kind: 'median', warmup: 1, minPeers: 1 };
const epoch = (n: number, testAccuracy: number) => ({ epoch: n, trainLoss: 1, trainAccuracy: 0.5, testAccuracy, durationMs: 10, imagesPerSec: 100 });

async function queue(sweepId: string, training: Record<string, unknown>): Promise<string> {
  const config = ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 2 }, training });
  const doc = newRunDocument(config, { sweepId, stopping: rule });
  await h.store.create(doc);
  return doc.id;
}
const add = (id: string, config: ExperimentConfig) => h.queue.add('run', { runId: id, config, baselineId: null }, { jobId: id });

test('a stop decided before a restart ends the run when a worker picks it up again, with the epochs it had', async () => {
  const sweepId = 'swp_restart1';
  const id = await queue(sweepId, { epochs: 4, trainLimit: 300, testLimit: 100 });
  // As a worker that died after reporting epoch 1 (and its stop) left it: the epoch stored, the decision in Redis.
  await h.store.addEpoch(id, epoch(1, 0.1), 4);
  await stopping.judge({ id: 'run_peer01', sweepId, stopping: rule, epochs: 4 }, 1, 0.9);
  const verdict = await stopping.judge({ id, sweepId, stopping: rule, epochs: 4 }, 1, 0.1);
  assert.equal(verdict.stop, true);
  await add(id, (await h.store.get(id))!.config);
  const doc = await h.waitForStatus(id, ['stopped', 'completed', 'failed'], 30_000);
  assert.equal(doc.status, 'stopped');
  assert.deepEqual(doc.stopped, verdict.stop ? verdict.decision : null);
  assert.deepEqual(doc.epochs.map((e) => e.epoch), [1], 'no epoch trained after the decision');
  assert.equal(doc.metrics.testAccuracy, 0.1);
});

test('a run below its peers stops at the epoch the rule judges, and ends stopped with its reason', async () => {
  const sweepId = 'swp_live01';
  // Two peers already reported 99% at epoch 1; a run at a learning rate of 1e-6 cannot reach that.
  for (const peer of ['run_peer01', 'run_peer02']) await stopping.judge({ id: peer, sweepId, stopping: rule, epochs: 6 }, 1, 0.99);
  const id = await queue(sweepId, { epochs: 6, trainLimit: 300, testLimit: 100, learningRate: 1e-6 });
  await add(id, (await h.store.get(id))!.config);
  const doc = await h.waitForStatus(id, ['stopped', 'completed', 'failed'], 60_000);
  assert.equal(doc.status, 'stopped', doc.error?.message);
  assert.equal(doc.stopped?.epoch, 1);
  assert.match(doc.stopped?.reason ?? '', /^median rule: test accuracy 0\.\d{4} at epoch 1 is below the median 0\.9900 of the 2 other run\(s\)/);
  assert.ok(doc.epochs.length >= 1 && doc.epochs.length < 6, `kept ${doc.epochs.length} epochs`);
  assert.equal(doc.artifact, null);
  assert.equal(await h.store.loadCheckpoint(id), null, 'a stopped run keeps no checkpoint');
});
