// Transient failures and the bounded shutdown (issue 7): a training thread that dies is retried with BullMQ's
// exponential backoff and resumes from its checkpoint; one that dies on every attempt fails the run once, with its
// reason; a worker whose run cannot reach a batch boundary in time still stops within SHUTDOWN_TIMEOUT_MS.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RUN_JOB_OPTIONS, type RunEvent } from '@quantlab/shared';
import { startWorker, type RunningWorker } from '@quantlab/worker';
import { testEnv } from './helpers/redis.ts';
import type { Logger } from '@quantlab/worker/log';
import { harness, waitUntil, type Harness } from './helpers/worker.ts';
import { TEST_BACKEND } from './helpers/backend.ts';
import { decodeCheckpoint } from '../services/ml/src/training/checkpoint.ts';

const env = testEnv('fault-transient', { LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000', TFJS_BACKEND: TEST_BACKEND });
const BACKOFF_MS = RUN_JOB_OPTIONS.backoff.delay;
const ATTEMPTS = RUN_JOB_OPTIONS.attempts;

const CONFIG = { dataset: 'mnist', model: 'mlp', training: { epochs: 4, trainLimit: 2000, seed: 11 } } as const;

let h: Harness;
let worker: RunningWorker;
/** Every run event with the time it arrived here, to measure the backoff between attempts. */
const seen: { at: number; e: RunEvent }[] = [];
const sub = new Redis(env.REDIS_URL);

before(async () => {
  sub.on('pmessage', (_p, _c, msg: string) => seen.push({ at: Date.now(), e: JSON.parse(msg) as RunEvent }));
  await sub.psubscribe(`${env.KEY_PREFIX}:events:*`);
  h = harness(env);
  worker = await startWorker(env, { testHooks: { batchGate: gate.buffer as SharedArrayBuffer } });
});

after(async () => {
  await worker?.close();
  sub.disconnect();
  await h?.close();
  await env.cleanup();
});

const statusEvents = (id: string) => seen.flatMap(({ at, e }) => (e.runId === id && e.type === 'status' ? [{ at, status: e.status }] : []));
const epochNumbers = (id: string) => seen.flatMap(({ e }) => (e.runId === id && e.type === 'epoch' ? [e.epoch.epoch] : []));
/** Epoch events of a run since its n-th 'running' status (that attempt's epochs). */
function epochsOfAttempt(id: string, n: number): number {
  let running = 0;
  let epochs = 0;
  for (const { e } of seen) {
    if (e.runId !== id) continue;
    if (e.type === 'status' && e.status === 'running') running++;
    else if (e.type === 'epoch' && running === n) epochs++;
  }
  return epochs;
}
/** The training threads' gate (ThreadTestHooks.batchGate): [1] = N holds a thread once it finished epoch N. */
const gate = new Int32Array(new SharedArrayBuffer(8));
/** Ends the training threads, as a crash in native code or an out-of-memory kill of the thread would. */
const crashThread = () => worker.pool.close();

test('a training thread that dies mid-run: the run is retried after the backoff and resumes from its checkpoint', async () => {
  const reference = await h.submit(CONFIG);
  const ref = await h.waitForStatus(reference, ['completed', 'failed'], 60_000);
  assert.equal(ref.status, 'completed', ref.error?.message);

  // The thread holds itself once epoch 2 is done, so the crash comes after epoch 2's checkpoint and before epoch 3 on
  // any machine (under load the run could otherwise finish before the test saw epoch 2).
  Atomics.store(gate, 1, 2);
  const id = await h.submit(CONFIG);
  await waitUntil('the checkpoint of epoch 2', async () => {
    const ck = await h.store.loadCheckpoint(id);
    return ck !== null && decodeCheckpoint(ck).epoch === 2;
  }, 60_000, 20);
  await crashThread();
  Atomics.store(gate, 1, 0);
  Atomics.store(gate, 0, 0);
  const done = await h.waitForStatus(id, ['completed', 'failed'], 60_000);
  assert.equal(done.status, 'completed', done.error?.message);
  assert.equal(done.attempts, 2);
  assert.deepEqual(done.epochs.map((e) => e.epoch), [1, 2, 3, 4], 'every epoch once');
  // Resumed, not restarted: the epochs before the crash were not trained (nor published) again.
  assert.deepEqual(epochNumbers(id).slice(0, 2), [1, 2]);
  assert.equal(epochNumbers(id).filter((n) => n <= 2).length, 2);
  // The same numbers as the undisturbed run with the same seed.
  assert.deepEqual(
    done.epochs.map((e) => [e.trainLoss, e.testAccuracy]),
    ref.epochs.map((e) => [e.trainLoss, e.testAccuracy]),
  );

  // The status events come over pub/sub: the last may arrive just after the document reads completed.
  const st = await waitUntil('the completed event', async () => (statusEvents(id).at(-1)?.status === 'completed' ? statusEvents(id) : null), 5_000, 20);
  assert.deepEqual(st.map((s) => s.status), ['running', 'queued', 'running', 'completed']);
  const waited = st[2].at - st[1].at;
  assert.ok(waited >= BACKOFF_MS * 0.9, `the retry waited ${waited} ms, less than the ${BACKOFF_MS} ms backoff`);
});

test('a thread that dies on every attempt fails the run once, after the last attempt, with the reason', async () => {
  const id = await h.submit({ ...CONFIG, training: { ...CONFIG.training, epochs: 40 } });
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    // Wait until this attempt trains (an epoch of it is in) before ending its thread.
    await waitUntil(`attempt ${attempt} training`, async () => epochsOfAttempt(id, attempt) >= 1, 60_000, 20);
    await crashThread();
  }
  const doc = await h.waitForStatus(id, ['failed', 'completed'], 30_000);
  assert.equal(doc.status, 'failed');
  assert.match(doc.error!.message, new RegExp(`failed after ${ATTEMPTS} attempts: the training thread exited`));
  assert.equal(doc.attempts, ATTEMPTS);
  // BullMQ records the failure just after the worker wrote the run's.
  await waitUntil('BullMQ to give up too (no retry loop)', async () => (await h.queue.getJobState(id)) === 'failed', 5_000, 50);
  assert.equal(await h.store.loadCheckpoint(id), null, 'its checkpoint is gone');
  // Exponential: the second wait is about twice the first.
  const st = statusEvents(id).filter((s) => s.status === 'queued' || s.status === 'running');
  const waits = [st[2].at - st[1].at, st[4].at - st[3].at];
  assert.ok(waits[0] >= BACKOFF_MS * 0.9 && waits[1] >= BACKOFF_MS * 2 * 0.9, `waits ${waits.join(', ')} ms`);
});

test('a run in a batch longer than SHUTDOWN_TIMEOUT_MS: the worker still stops in time, and the run completes elsewhere', async () => {
  const SHUTDOWN_TIMEOUT_MS = 500;
  const env2 = testEnv('fault-forced-stop', { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000', TFJS_BACKEND: TEST_BACKEND });
  const h2 = harness(env2);
  const warnings: string[] = [];
  const quiet = () => {};
  const log: Logger = { trace: quiet, debug: quiet, info: quiet, warn: (msg) => warnings.push(msg), error: quiet, fatal: quiet };
  let second: RunningWorker | null = null;
  try {
    // The batch gate holds the training thread at its first batch boundary: a batch that lasts until the test says
    // so, longer than the shutdown timeout on any machine.
    const gate = new SharedArrayBuffer(4);
    Atomics.store(new Int32Array(gate), 0, 1);
    const first = await startWorker(env2, { log, testHooks: { batchGate: gate } });
    const id = await h2.submit({ dataset: 'mnist', model: 'mlp', training: { epochs: 1, trainLimit: 400, testLimit: 200, seed: 5 } });
    await waitUntil('the run to start on the first worker', async () => (await h2.store.get(id))?.workerId === first.id, 60_000, 20);
    const t0 = Date.now();
    const closing = first.close();
    await waitUntil('the forced stop', async () => warnings.some((w) => w.startsWith('shutdown timeout')), SHUTDOWN_TIMEOUT_MS + 10_000, 10);
    await closing;
    const stopMs = Date.now() - t0;
    assert.ok(stopMs < SHUTDOWN_TIMEOUT_MS + 2_000, `close() took ${stopMs} ms`);
    assert.ok(stopMs >= SHUTDOWN_TIMEOUT_MS, 'it waited for the run to stop by itself first');

    second = await startWorker(env2);
    const done = await h2.waitForStatus(id, ['completed', 'failed'], 90_000);
    assert.equal(done.status, 'completed', done.error?.message);
    assert.deepEqual(done.epochs.map((e) => e.epoch), [1]);
    assert.equal(done.workerId, second.id);
  } finally {
    await second?.close();
    await h2.close();
    await env2.cleanup();
  }
});
