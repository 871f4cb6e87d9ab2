// The worker's job processing (processRun) against fakes of the store, the training pool and the BullMQ job: the
// run's lifecycle, its fenced writes and its failure modes, without Redis or training.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ExperimentConfig, lockKeyOf, newRunDocument, parseEnv, runJob, ARTIFACT_FORMAT, type EpochMetrics, type RunDocument, type RunJobData } from '@quantlab/shared';
import type { TrainOutcome } from '@quantlab/ml/training/types';
import { processRun } from '@quantlab/worker/jobs/run';
import type { WorkerContext } from '@quantlab/worker/jobs/context';
import type { WorkerMetrics } from '@quantlab/worker/metrics';
import { STOP_REASONS } from '@quantlab/worker/threads/protocol';
import { TrainInputFailure, type StopFlag, type TrainCallbacks } from '@quantlab/worker/threads/pool';
import { FakeRunStore } from '../helpers/fakes.ts';

const env = parseEnv({ KEY_PREFIX: 'fast', QUEUE_NAME: 'fast-q', LOG_LEVEL: 'silent', REDIS_URL: 'redis://127.0.0.1:1' });
const TOKEN = 'lock-token';
const epoch = (n: number): EpochMetrics => ({ epoch: n, trainLoss: 1 / n, trainAccuracy: 0.5, testAccuracy: 0.6, durationMs: 5, imagesPerSec: 100 });
const dataset = { name: 'mnist', train: 10, test: 10, inputShape: [28, 28, 1], split: 'test' };
const metrics = { testAccuracy: 0.9, trainLoss: 0.1, durationMs: 10, backend: 'cpu' };

type Train = (input: { config: ExperimentConfig; resumeFrom?: Uint8Array | null; baselineArtifact?: Uint8Array | null }, stop: StopFlag, cb: TrainCallbacks) => Promise<TrainOutcome>;

/** A scripted training: `epochs` epochs (a checkpoint after each), stopping at a batch boundary when its flag is set. */
const trains =
  (epochs: number, opts: { waitForStop?: boolean } = {}): Train =>
  async (input, stop, cb) => {
    const reason = () => STOP_REASONS[new Int32Array(stop.buffer)[0]];
    const done: EpochMetrics[] = [];
    for (let n = 1; n <= epochs; n++) {
      if (reason()) return { status: reason(), metrics, epochs: done, dataset, artifact: null };
      await cb.onEpoch(epoch(n), new Uint8Array([n]));
      done.push(epoch(n));
    }
    if (opts.waitForStop) while (!reason()) await new Promise((r) => setTimeout(r, 5));
    if (reason()) return { status: reason(), metrics, epochs: done, dataset, artifact: null };
    return { status: 'completed', metrics, epochs: done, dataset, artifact: new Uint8Array([7, 7, 7]) };
  };

function setup(train: Train, opts: { closing?: boolean; registryDelayMs?: number } = {}) {
  const store = new FakeRunStore();
  const delayed: number[] = [];
  const registry = { current: { id: 'w1', host: 'h', pid: 1, backend: 'cpu', datasets: [], concurrency: 1, currentRuns: [] as string[], startedAt: '', lastSeen: '' }, update: () => new Promise<void>((r) => setTimeout(r, opts.registryDelayMs ?? 0)) };
  const noop = () => {};
  const ctx: WorkerContext = {
    env,
    workerId: 'w1',
    runtime: { backend: 'cpu', tfjsVersion: '4.22.0' },
    store,
    pool: { train: train as never, ready: async () => ({ backend: 'cpu', tfjsVersion: '4.22.0' }), close: async () => {} },
    registry: registry as never,
    log: { debug: noop, info: noop, warn: noop, error: noop } as never,
    metrics: new Proxy({}, { get: () => noop }) as WorkerMetrics,
    // No sweep early stopping in these runs: nothing recorded, nothing decided.
    stopping: { judge: async () => ({ stop: false }), decisionOf: async () => null } as never,
    // Built-in models only here (test/e2e.uploaded-model.test.ts runs an uploaded one).
    models: { load: async () => null },
    running: new Map(),
    isClosing: () => opts.closing ?? false,
  };
  async function submit(over: Partial<RunDocument> = {}, cfg: object = {}) {
    const doc = { ...newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', training: { epochs: 2 }, ...cfg })), ...over };
    await store.createMany([doc]);
    store.locks.set(lockKeyOf(env, doc.id), TOKEN);
    const { data } = runJob(doc);
    const job = { id: doc.id, data, opts: { attempts: 3 }, attemptsMade: 0, moveToDelayed: async (ts: number) => void delayed.push(ts) } as unknown as Job<RunJobData>;
    return { doc, job, run: () => processRun(ctx, job, TOKEN) };
  }
  return { ctx, store, delayed, submit };
}

test('a run goes queued -> running -> completed: epochs, checkpoints, artifact and provenance, every write fenced', async () => {
  const s = setup(trains(2));
  const { doc, run } = await s.submit();
  assert.deepEqual(await run(), { status: 'completed', testAccuracy: 0.9 });
  const got = (await s.store.get(doc.id))!;
  assert.equal(got.status, 'completed');
  assert.deepEqual(got.epochs.map((e) => e.epoch), [1, 2]);
  assert.deepEqual(got.artifact, { bytes: 3, format: ARTIFACT_FORMAT });
  assert.equal(got.provenance?.tfjsVersion, '4.22.0', 'from the training thread’s ready message');
  assert.equal(got.attempts, 1);
  assert.equal(s.store.checkpoints.has(doc.id), false, 'the checkpoint goes once the run is final');
  assert.deepEqual(
    s.store.events.filter((e) => e.type === 'status').map((e) => (e as { status: string }).status),
    ['running', 'completed'],
  );
});

test('a lost lock stops the writes: the run keeps what the owner wrote, and the job fails with FenceLostError', async () => {
  const s = setup(async (input, stop, cb) => {
    await cb.onEpoch(epoch(1), new Uint8Array([1]));
    s.store.locks.set(lockKeyOf(env, doc.id), 'someone-else'); // stalled, and another worker took the job
    await cb.onEpoch(epoch(2), new Uint8Array([2]));
    return { status: 'completed', metrics, epochs: [], dataset, artifact: null };
  });
  const { doc, run } = await s.submit();
  await assert.rejects(run(), /lost the lock/);
  const got = (await s.store.get(doc.id))!;
  assert.equal(got.status, 'running');
  assert.deepEqual(got.epochs.map((e) => e.epoch), [1]);
});

test('a cancel request before the start cancels without training; one during training ends it cancelled', async () => {
  let trained = 0;
  const s = setup(async (input, stop, cb) => {
    trained++;
    return trains(1, { waitForStop: true })(input, stop, cb);
  });
  const a = await s.submit();
  await s.store.requestCancel(a.doc.id);
  assert.deepEqual(await a.run(), { status: 'cancelled', testAccuracy: null });
  assert.equal(trained, 0);
  const b = await s.submit();
  const running = b.run();
  // Sentinel: the first epoch is in, the training waits at a batch boundary; then the API's request arrives.
  while ((await s.store.epochCount(b.doc.id)) < 1) await new Promise((r) => setTimeout(r, 5));
  await s.store.requestCancel(b.doc.id);
  assert.deepEqual(await running, { status: 'cancelled', testAccuracy: null });
  const got = (await s.store.get(b.doc.id))!;
  assert.equal(got.status, 'cancelled');
  assert.equal(got.epochs.length, 1, 'finished epochs are kept');
});

test('bad input fails the run once with its reason (UnrecoverableError: no retry)', async () => {
  const s = setup(async () => {
    throw new TrainInputFailure('dataset cifar10 is not in DATA_DIR');
  });
  const { doc, run } = await s.submit();
  await assert.rejects(run(), UnrecoverableError);
  const got = (await s.store.get(doc.id))!;
  assert.equal(got.status, 'failed');
  assert.equal(got.error?.message, 'dataset cifar10 is not in DATA_DIR');
});

test('a failed run rejects its job only: no promise of it goes unhandled while the worker tidies up', async () => {
  // The registry update in the handler's finally takes a Redis round trip; a rejection returned from inside the try
  // (not awaited there) sat unhandled during it, which Node reports as an unhandledRejection (seen in CI).
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const s = setup(
      async () => {
        throw new TrainInputFailure('dataset cifar10 is not in DATA_DIR');
      },
      { registryDelayMs: 20 },
    );
    const { run } = await s.submit();
    await assert.rejects(run(), UnrecoverableError);
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});

test('a transient failure puts the run back to queued; on the last attempt it fails with the attempts counted', async () => {
  const s = setup(async () => {
    throw new Error('the training thread exited (code 1)');
  });
  const a = await s.submit();
  await assert.rejects(a.run(), /exited/);
  assert.equal((await s.store.get(a.doc.id))!.status, 'queued');
  const b = await s.submit();
  (b.job as { attemptsMade: number }).attemptsMade = 2;
  await assert.rejects(b.run(), /exited/);
  const got = (await s.store.get(b.doc.id))!;
  assert.equal(got.status, 'failed');
  assert.equal(got.error?.message, 'failed after 3 attempts: the training thread exited (code 1)');
});

test('at shutdown the run goes back to the queue (delayed, no attempt spent) and keeps its checkpoint', async () => {
  const s = setup(trains(2), { closing: true });
  const { doc, run } = await s.submit();
  await assert.rejects(run(), DelayedError);
  assert.equal(s.delayed.length, 1);
  const got = (await s.store.get(doc.id))!;
  assert.deepEqual([got.status, got.workerId], ['queued', null]);
});

test('an inference run waits (delayed) for its baseline, and fails with the reason when the baseline failed', async () => {
  const s = setup(trains(1));
  const base = await s.submit();
  const inf = await s.submit({ baselineId: base.doc.id }, { phase: 'inference', representation: { kind: 'fixed', bits: 4 } });
  await assert.rejects(inf.run(), DelayedError);
  assert.equal(s.delayed.length, 1);
  await s.store.update(base.doc.id, { status: 'failed', error: { message: 'out of memory' } });
  await assert.rejects(inf.run(), UnrecoverableError);
  assert.equal((await s.store.get(inf.doc.id))!.error?.message, `baseline run ${base.doc.id} failed: out of memory`);
});

test('a job delivered again after its run finished changes nothing', async () => {
  const s = setup(trains(1));
  const { doc, run } = await s.submit({ status: 'completed', metrics: { ...metrics, testAccuracy: 0.5 } });
  const before = s.store.writes.length;
  assert.deepEqual(await run(), { status: 'completed', testAccuracy: 0.5 });
  assert.equal(s.store.writes.length, before);
  assert.equal((await s.store.get(doc.id))!.status, 'completed');
});
