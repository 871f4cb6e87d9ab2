// The worker in this process against the real Redis: one 'running' transition and each epoch once under short lock
// intervals, input errors fail once, cancel, the time limit, inference runs waiting for their baseline.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { bullPrefix, listWorkers, workerConnection, type RunEvent } from '@quantlab/shared';
import { startWorker, type RunningWorker } from '@quantlab/worker';
import { testEnv } from './helpers/redis.ts';
import { harness, newRunDoc, recordEvents, waitUntil, type Harness } from './helpers/worker.ts';
import { ExperimentConfig } from '@quantlab/shared';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';

// Locks of 1 s checked every 0.5 s: a worker whose event loop were blocked by training would lose its jobs at once.
const env = testEnv('worker-lifecycle', {
  LOCK_DURATION_MS: '1000',
  STALLED_INTERVAL_MS: '500',
  WORKER_CONCURRENCY: '2',
  TFJS_BACKEND: TEST_BACKEND,
  DATA_DIR: mkdtempSync(join(tmpdir(), 'ql-worker-')),
});
let h: Harness;
let worker: RunningWorker;
let rec: Awaited<ReturnType<typeof recordEvents>>;
let qe: QueueEvents;
const qeConnection = workerConnection(env.REDIS_URL);
const stalled: string[] = [];

before(async () => {
  h = harness(env);
  rec = await recordEvents(env);
  qe = new QueueEvents(env.QUEUE_NAME, { connection: qeConnection, prefix: bullPrefix(env) });
  qe.on('stalled', ({ jobId }) => stalled.push(jobId));
  await qe.waitUntilReady();
  worker = await startWorker(env);
});

after(async () => {
  await worker?.close();
  await qe?.close();
  qeConnection.disconnect();
  await rec?.close();
  await h?.close();
  await env.cleanup();
});

const eventsOf = (id: string) => rec.events.filter((e) => e.runId === id);
const statuses = (id: string) => eventsOf(id).flatMap((e) => (e.type === 'status' ? [e.status] : []));
const epochNumbers = (id: string) => eventsOf(id).flatMap((e: RunEvent) => (e.type === 'epoch' ? [e.epoch.epoch] : []));

test('a run of several epochs under 1 s locks is processed exactly once', async () => {
  const id = await h.submit({ dataset: 'mnist', model: 'mlp', training: { epochs: 4, trainLimit: 1500, seed: 3 } });
  const live = await waitUntil('the worker to list the run', async () => (await listWorkers(h.redis, env.KEY_PREFIX)).find((w) => w.currentRuns.includes(id)), 30_000, 50);
  assert.equal(live.id, worker.id);
  assert.equal(live.backend, TEST_BACKEND_NAME);
  assert.equal(live.concurrency, 2);
  assert.deepEqual(live.datasets, ['mnist', 'fashion-mnist', 'synthetic']);

  const doc = await h.waitForStatus(id, ['completed', 'failed'], 60_000);
  assert.equal(doc.status, 'completed', doc.error?.message);
  assert.equal(doc.attempts, 1);
  assert.equal(doc.workerId, worker.id);
  await rec.untilFinal(id);
  assert.deepEqual(statuses(id), ['running', 'completed']);
  assert.deepEqual(epochNumbers(id), [1, 2, 3, 4]);
  assert.deepEqual(doc.epochs.map((e) => e.epoch), [1, 2, 3, 4]);
  assert.deepEqual(stalled, []);
  assert.ok(doc.metrics.testAccuracy! > 0.7, `test accuracy ${doc.metrics.testAccuracy}`);
  assert.equal(doc.metrics.backend, TEST_BACKEND_NAME);
  assert.equal(doc.dataset?.name, 'mnist');
  assert.equal(doc.dataset?.train, 1500);
  assert.ok(doc.startedAt && doc.finishedAt && doc.finishedAt >= doc.startedAt);
  assert.deepEqual(doc.progress, { epoch: 4, epochs: 4, fraction: 1 });
  assert.equal(await h.store.loadCheckpoint(id), null, 'the checkpoint is deleted at the end');
  // BullMQ moves the job to completed just after the handler's last write.
  await waitUntil('the job to complete', async () => (await h.queue.getJobState(id)) === 'completed', 5_000);
  assert.equal((await h.queue.getJob(id))?.attemptsMade, 1);
});

test('a data error fails the run once with its message, and the worker keeps going', async () => {
  // cifar10's files are not in this DATA_DIR.
  const id = await h.submit({ dataset: 'cifar10', model: 'mlp', training: { epochs: 1 } });
  const doc = await h.waitForStatus(id, ['completed', 'failed'], 30_000);
  assert.equal(doc.status, 'failed');
  assert.match(doc.error!.message, /cifar/i);
  await rec.untilFinal(id);
  assert.deepEqual(statuses(id), ['running', 'failed']);
  const job = await h.queue.getJob(id);
  await waitUntil('the job to fail', async () => (await job!.getState()) === 'failed', 5_000);
  assert.equal((await h.queue.getJob(id))!.attemptsMade, 1, 'no retry for an input error');

  const ok = await h.submit({ dataset: 'synthetic', model: 'mlp', training: { epochs: 1, trainLimit: 200 } });
  assert.equal((await h.waitForStatus(ok, ['completed', 'failed'], 30_000)).status, 'completed');
});

test('cancel stops a running run at a batch boundary; it keeps its finished epochs', async () => {
  const id = await h.submit({ dataset: 'mnist', model: 'mlp', training: { epochs: 40, trainLimit: 1000 } });
  await waitUntil('epoch 1', async () => epochNumbers(id).length >= 1, 30_000, 20);
  await h.store.requestCancel(id);
  const doc = await h.waitForStatus(id, ['cancelled', 'completed', 'failed'], 20_000);
  assert.equal(doc.status, 'cancelled');
  assert.ok(doc.epochs.length >= 1 && doc.epochs.length < 40, `${doc.epochs.length} epochs`);
  assert.deepEqual(doc.epochs.map((e) => e.epoch), Array.from({ length: doc.epochs.length }, (_, i) => i + 1));
  assert.equal(await h.store.loadCheckpoint(id), null);
  await waitUntil('the job to complete', async () => (await h.queue.getJobState(id)) === 'completed', 5_000);
});

test('training.maxMinutes ends the run failed with a clear message, keeping its epochs', async () => {
  const id = await h.submit({ dataset: 'mnist', model: 'mlp', training: { epochs: 100, trainLimit: 1000, maxMinutes: 0.05 } });
  const doc = await h.waitForStatus(id, ['cancelled', 'completed', 'failed'], 30_000);
  assert.equal(doc.status, 'failed');
  assert.match(doc.error!.message, /time limit: training\.maxMinutes = 0\.05 was reached after \d+ of 100 epochs/);
  assert.ok(doc.epochs.length >= 1 && doc.epochs.length < 100);
  const job = await h.queue.getJob(id);
  await waitUntil('the job to fail', async () => (await job!.getState()) === 'failed', 5_000);
  assert.equal((await h.queue.getJob(id))!.attemptsMade, 1, 'no retry after the time limit');
});

test('an inference run waits (delayed) while its baseline is unfinished, and fails when the baseline failed', async () => {
  const base = newRunDoc(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' }));
  await h.store.create(base); // queued, with no job: it will not finish by itself
  const id = await h.submit({ dataset: 'mnist', model: 'mlp', phase: 'inference', representation: { kind: 'fixed', bits: 8 } }, { baselineId: base.id });
  await waitUntil('the job to be delayed', async () => (await (await h.queue.getJob(id))?.getState()) === 'delayed', 10_000);
  assert.equal((await h.store.get(id))!.status, 'queued');

  await h.store.update(base.id, { status: 'failed', error: { message: 'out of memory' } });
  const doc = await h.waitForStatus(id, ['completed', 'failed'], 15_000);
  assert.equal(doc.status, 'failed');
  assert.equal(doc.error!.message, `baseline run ${base.id} failed: out of memory`);
  await rec.untilFinal(id);
  assert.deepEqual(statuses(id), ['failed'], 'it never ran');
});

test('an inference run quantizes its baseline once the baseline completes', async () => {
  const training = { epochs: 1, trainLimit: 1000, seed: 4 };
  const baseId = await h.submit({ dataset: 'mnist', model: 'mlp', training });
  const id = await h.submit({ dataset: 'mnist', model: 'mlp', phase: 'inference', representation: { kind: 'fixed', bits: 8 }, training }, { baselineId: baseId });
  const base = await h.waitForStatus(baseId, ['completed', 'failed'], 30_000);
  const doc = await h.waitForStatus(id, ['completed', 'failed'], 30_000);
  assert.equal(base.status, 'completed', base.error?.message);
  assert.equal(doc.status, 'completed', doc.error?.message);
  assert.ok(doc.startedAt! >= base.finishedAt!, 'it started only after its baseline finished');
  assert.ok(doc.artifact && doc.artifact.bytes < base.artifact!.bytes / 3, 'an 8-bit artifact, about 4x smaller');
  assert.ok(Math.abs(doc.metrics.testAccuracy! - base.metrics.testAccuracy!) < 0.02, `${doc.metrics.testAccuracy} vs ${base.metrics.testAccuracy}`);
});
