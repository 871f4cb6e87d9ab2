// Worker processes that die: kill -9 mid-epoch (stalled-job recovery resumes the run from its checkpoint on another
// worker) and SIGTERM (the run goes back to the queue at the next batch). Either way every epoch is recorded once
// and the result equals an uninterrupted run with the same seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listWorkers, type RunDocument, type RunEvent } from '@quantlab/shared';
import { testEnv } from './helpers/redis.ts';
import { harness, recordEvents, killAll, sleep, spawnWorker, waitUntil, type WorkerProcess } from './helpers/worker.ts';
import { TEST_BACKEND } from './helpers/backend.ts';
import { decodeCheckpoint } from '../services/ml/src/training/checkpoint.ts';

const CONFIG = { dataset: 'mnist', model: 'mlp', training: { epochs: 4, trainLimit: 3000, seed: 7 } } as const;
// SIGTERM needs epochs that outlast the signal's way to a batch boundary: with the native kernels three mlp epochs
// of 3,000 images could end before it under load, and the run completed where it was.
const LONGER_CONFIG = { ...CONFIG, training: { ...CONFIG.training, trainLimit: 8000 } } as const;
// Training with compact weights only (issue 18): its checkpoint holds codes, and it must resume just the same.
const COMPACT_CONFIG = {
  dataset: 'mnist',
  model: 'mlp',
  representation: { kind: 'fixed', bits: 8, range: 'pow2', rounding: 'stochastic' },
  training: { epochs: 4, trainLimit: 3000, seed: 7, master: 'compact' },
} as const;

async function interrupted(name: string, signal: 'SIGKILL' | 'SIGTERM', config: typeof CONFIG | typeof LONGER_CONFIG | typeof COMPACT_CONFIG = CONFIG) {
  const env = testEnv(name, { LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000', SHUTDOWN_TIMEOUT_MS: '10000', TFJS_BACKEND: TEST_BACKEND });
  const h = harness(env);
  const rec = await recordEvents(env);
  const workers: WorkerProcess[] = [];
  try {
    workers.push(...(await Promise.all([spawnWorker(env), spawnWorker(env)])));
    // Two identical runs, one on each worker: the reference finishes undisturbed, the other loses its worker.
    const reference = await h.submit(config);
    const victim = await h.submit(config);
    const epochsOf = (id: string) => rec.events.filter((e): e is Extract<RunEvent, { type: 'epoch' }> => e.type === 'epoch' && e.runId === id).map((e) => e.epoch.epoch);
    await waitUntil('epoch 1 of the run', async () => epochsOf(victim).length >= 1, 60_000, 20);
    const owner = (await listWorkers(h.redis, env.KEY_PREFIX)).find((w) => w.currentRuns.includes(victim));
    assert.ok(owner, 'a worker lists the run');
    const proc = workers.find((w) => w.pid === owner.pid)!;
    // Into epoch 2: epoch 1's checkpoint (written just after the epoch) is stored.
    let checkpoint: Uint8Array | null = null;
    await waitUntil('the checkpoint of epoch 1', async () => (checkpoint = await h.store.loadCheckpoint(victim)) !== null, 30_000, 20);
    const t0 = Date.now();
    proc.child.kill(signal);
    const exit = await proc.exited;
    const exitMs = Date.now() - t0;
    // What the killed worker published (its last messages arrive within ms; a resume takes the 2 s lock to expire).
    await sleep(300);
    const beforeResume = epochsOf(victim);

    const done = await h.waitForStatus(victim, ['completed', 'failed', 'cancelled'], 90_000);
    const ref = await h.waitForStatus(reference, ['completed', 'failed', 'cancelled'], 30_000);
    await rec.untilFinal(victim);
    const statuses = rec.events.filter((e) => e.runId === victim && e.type === 'status').map((e) => (e as { status: string }).status);
    return { env, exit, exitMs, done, ref, statuses, epochEvents: epochsOf(victim), beforeResume, owner, checkpoint: checkpoint! };
  } finally {
    await killAll(workers);
    await rec.close();
    await h.close();
    await env.cleanup();
  }
}

/**
 * Every epoch published, in order; the only one published twice is the last the killed worker published, when the kill
 * came between storing that epoch and storing its checkpoint (the resume trains it again and rewrites the same field).
 */
function epochsOnce(r: { epochEvents: number[]; beforeResume: number[] }): void {
  assert.deepEqual([...new Set(r.epochEvents)], [1, 2, 3, 4], `every epoch, in order: ${r.epochEvents}`);
  const repeated = r.epochEvents.filter((e, i) => r.epochEvents.indexOf(e) !== i);
  assert.ok(repeated.length === 0 || (repeated.length === 1 && repeated[0] === r.beforeResume.at(-1)), `repeated ${repeated} (published before the resume: ${r.beforeResume})`);
  assert.deepEqual(r.epochEvents.slice(0, r.beforeResume.length), r.beforeResume);
}

function sameResult(done: RunDocument, ref: RunDocument): void {
  assert.equal(done.status, 'completed', done.error?.message);
  assert.equal(ref.status, 'completed', ref.error?.message);
  assert.deepEqual(done.epochs.map((e) => e.epoch), [1, 2, 3, 4]);
  assert.deepEqual(
    done.epochs.map((e) => [e.trainLoss, e.testAccuracy]),
    ref.epochs.map((e) => [e.trainLoss, e.testAccuracy]),
    'every epoch equals the uninterrupted run',
  );
  assert.equal(done.metrics.testAccuracy, ref.metrics.testAccuracy);
  assert.ok(done.metrics.testAccuracy! > 0.8);
}

test('kill -9 a worker mid-epoch: another resumes from the checkpoint; no missing or duplicate epoch', async () => {
  const r = await interrupted('fault-kill', 'SIGKILL');
  assert.equal(r.exit.signal, 'SIGKILL');
  sameResult(r.done, r.ref);
  epochsOnce(r);
  assert.deepEqual(r.statuses, ['running', 'running', 'completed']);
  assert.equal(r.done.attempts, 2);
  assert.notEqual(r.done.workerId, r.owner.id);
});

test('kill -9 a worker mid-epoch of a compact-master run: its checkpoint holds codes and the run resumes exactly', async () => {
  const r = await interrupted('fault-kill-compact', 'SIGKILL', COMPACT_CONFIG);
  assert.equal(r.exit.signal, 'SIGKILL');
  const ck = decodeCheckpoint(r.checkpoint);
  assert.equal(ck.compact?.codeType, 'i8', 'the checkpoint holds 8-bit codes');
  for (const i of ck.compact!.indices) assert.equal(ck.weights[i].length, 0, 'no float32 master of a quantized param');
  sameResult(r.done, r.ref);
  assert.equal(r.done.series, 'fixed/pow2/stochastic/training/compact');
  epochsOnce(r);
  assert.equal(r.done.attempts, 2);
  assert.deepEqual(r.done.metrics.trainingStateBytes, r.ref.metrics.trainingStateBytes);
  assert.ok(r.done.metrics.trainingStateBytes!.compact < r.done.metrics.trainingStateBytes!.float32);
});

test('SIGTERM: the worker stops at a batch boundary, exits in time, and the run resumes elsewhere', async () => {
  const r = await interrupted('fault-sigterm', 'SIGTERM', LONGER_CONFIG);
  assert.equal(r.exit.code, 0);
  assert.ok(r.exitMs < 10_000, `exited after ${r.exitMs} ms`);
  sameResult(r.done, r.ref);
  assert.deepEqual(r.epochEvents, [1, 2, 3, 4]);
  assert.deepEqual(r.statuses, ['running', 'queued', 'running', 'completed']);
  assert.equal(r.done.attempts, 2);
  assert.notEqual(r.done.workerId, r.owner.id);
});
