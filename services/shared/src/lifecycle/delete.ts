import { FINAL_STATUSES, type RunStatus } from '../schemas/run.ts';
import { lockKeyOf } from '../queue.ts';
import { editSweepRuns } from './sweep-membership.ts';
import { sleep, type LifecycleDeps } from './deps.ts';
import { sweepRunIds } from './sweep-runs.ts';

export interface DeleteOptions {
  /**
   * How long to wait for a running run to stop by itself after its cancel request (its worker then ends the job
   * cleanly). Whatever still runs after that is cut off: its job lock is deleted, so its next fenced write fails.
   */
  graceMs?: number;
}

// Every key of the run and the job's lock go in one step. Deleting the lock is what stops a worker that still trains
// the run: each of its writes is fenced by that lock (RunStore's Lua checks GET lock == token), so none of them can
// re-create the hash after this; the failed write also stops its training thread at the next batch.
const DELETE_RUN = `
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6])
redis.call('ZREM', KEYS[5], ARGV[1])
return n
`;

/**
 * Deletes a run and everything stored for it: document, epochs, checkpoint, artifact, its entry in the runs index and
 * in its sweep, and its BullMQ job. A queued run's job is removed first so it never starts; a running run is asked to
 * cancel, given `graceMs` to stop, then cut off (see DELETE_RUN). Returns false when there was no such run.
 */
export async function deleteRun(deps: LifecycleDeps, id: string, opts: DeleteOptions = {}): Promise<boolean> {
  const { redis, runs } = deps;
  const [status, sweepId] = (await redis.hmget(runs.keys.run(id), 'status', 'sweepId')).map((v) => (v ? (JSON.parse(v) as unknown) : null)) as [
    RunStatus | null,
    string | null,
  ];
  const job = await deps.queue.getJob(id);
  if (status === null && !job) return false;

  if (status !== null && !FINAL_STATUSES.includes(status)) {
    // Queued: removing the job now means no worker can start it (remove() refuses a job a worker has locked).
    if (job) await job.remove().catch(() => {});
    if (await deps.queue.getJob(id)) {
      await redis.hset(runs.keys.run(id), 'cancelRequested', 'true');
      await waitForFinal(deps, id, opts.graceMs ?? 3_000);
    }
  }
  await removeRunKeys(deps, id);
  await removeJob(deps, id);
  if (sweepId) await editSweepRuns(redis, runs.keys.sweep(sweepId), [[id, '']]);
  return true;
}

/**
 * Deletes a sweep: every run it lists, the runs those were retries of (they carry the sweep's id too), and its record.
 * Returns false when there was no such sweep.
 */
export async function deleteSweep(deps: LifecycleDeps, id: string, opts: DeleteOptions = {}): Promise<boolean> {
  const rec = await deps.sweeps.get(id);
  if (!rec) return false;
  const all = await sweepRunIds(deps, rec);
  // The record goes first, so the sweep vanishes from lists at once and no retry can add to it meanwhile.
  await deps.sweeps.delete(id);
  // Remove every queued run's job before waiting for running ones to stop, so no worker starts one meanwhile.
  const docs = await deps.runs.getMany(all);
  for (const d of docs) if (d.status === 'queued') await (await deps.queue.getJob(d.id))?.remove().catch(() => {});
  await Promise.all(all.map((r) => deleteRun(deps, r, opts)));
  return true;
}

async function waitForFinal(deps: LifecycleDeps, id: string, graceMs: number): Promise<void> {
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    const raw = await deps.redis.hget(deps.runs.keys.run(id), 'status');
    const status = raw ? (JSON.parse(raw) as RunStatus) : null;
    if (status === null || FINAL_STATUSES.includes(status)) {
      // The worker wrote the final status; give it a moment to finish the job in BullMQ (moveToCompleted).
      const job = await deps.queue.getJob(id);
      if (!job || (await job.isCompleted()) || (await job.isFailed())) return;
    }
    await sleep(100);
  }
}

async function removeRunKeys(deps: LifecycleDeps, id: string): Promise<void> {
  const { redis, runs } = deps;
  const k = runs.keys;
  // EVAL (not defineCommand, which auto-pipelined connections miss when it comes after them).
  await redis.eval(DELETE_RUN, 6, k.run(id), k.epochs(id), k.artifact(id), k.checkpoint(id), k.runs, lockKeyOf(deps.env, id), id);
}

/**
 * Removes the run's BullMQ job in whatever state it is. A worker may take a waiting job between two of these calls:
 * its lock is then deleted too and removal tried again (the worker finds no run document, or fails its next fenced
 * write, and stops).
 */
async function removeJob(deps: LifecycleDeps, id: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const job = await deps.queue.getJob(id);
    if (!job) return;
    const removed = await job.remove().then(
      () => true,
      () => false,
    );
    if (removed && !(await deps.queue.getJob(id))) return;
    await deps.redis.del(lockKeyOf(deps.env, id));
    await sleep(50);
  }
  throw new Error(`the job of run ${id} could not be removed`);
}
