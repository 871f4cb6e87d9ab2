import { FINAL_STATUSES, getRunJob, jobIdOfRun, lockKeyOf, type SweepRecord } from '@quantlab/shared';
import { sleep, type ServiceDeps } from '../deps.ts';

export interface DeleteOptions {
  /**
   * How long to wait for a running run to stop by itself after its cancel request (its worker then ends the job
   * cleanly). Whatever still runs after that is cut off: its job lock is deleted, so its next fenced write fails.
   */
  graceMs?: number;
}

/**
 * Deletes a run and everything stored for it: document, epochs, checkpoint, artifact, its index entries and its entry
 * in its sweep, and its BullMQ job. A queued run's job is removed first so it never starts; a running run is asked to
 * cancel, given `graceMs` to stop, then cut off (RunStore.delete takes its job's lock with it). Returns false when
 * there was no such run.
 */
export async function deleteRun(deps: ServiceDeps, id: string, opts: DeleteOptions = {}): Promise<boolean> {
  const [fields] = await deps.runs.fields([id], ['status', 'sweepId']);
  const job = await getRunJob(deps.queue, id);
  if (!fields && !job) return false;

  if (fields && !FINAL_STATUSES.includes(fields.status)) {
    // Queued: removing the job now means no worker can start it (remove() refuses a job a worker has locked).
    if (job) await job.remove().catch(() => {});
    if (await getRunJob(deps.queue, id)) {
      await deps.runs.requestCancel(id);
      await waitForFinal(deps, id, opts.graceMs ?? 3_000);
    }
  }
  const jobId = jobIdOfRun(id);
  await deps.runs.delete(id, jobId ? { lockKey: lockKeyOf(deps.env, jobId) } : {});
  await removeJob(deps, id);
  if (fields?.sweepId) await deps.sweeps.editRuns(fields.sweepId, [[id, '']]);
  return true;
}

/**
 * Deletes a sweep: every run it lists, the runs those were retries of (they carry the sweep's id too), and its record.
 * Returns false when there was no such sweep.
 */
export async function deleteSweep(deps: ServiceDeps, id: string, opts: DeleteOptions = {}): Promise<boolean> {
  const rec = await deps.sweeps.get(id);
  if (!rec) return false;
  const all = await sweepRunIds(deps, rec);
  // The record goes first, so the sweep vanishes from lists at once and no retry can add to it meanwhile.
  await deps.sweeps.delete(id);
  // Remove every queued run's job before waiting for running ones to stop, so no worker starts one meanwhile.
  const statuses = await deps.runs.fields(all, ['status']);
  for (let i = 0; i < all.length; i++) if (statuses[i]?.status === 'queued') await (await getRunJob(deps.queue, all[i]))?.remove().catch(() => {});
  await Promise.all(all.map((r) => deleteRun(deps, r, opts)));
  return true;
}

/**
 * Every run that belongs to a sweep: the ones it lists, plus the earlier attempts a retry replaced in that list (they
 * carry the sweep's id, so the store's sweep index has them).
 */
export async function sweepRunIds(deps: ServiceDeps, rec: SweepRecord): Promise<string[]> {
  return [...new Set([...rec.runIds, ...(await deps.runs.sweepMembers(rec.id))])];
}

async function waitForFinal(deps: ServiceDeps, id: string, graceMs: number): Promise<void> {
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    const status = await deps.runs.status(id);
    if (status === null || FINAL_STATUSES.includes(status)) {
      // The worker wrote the final status; give it a moment to finish the job in BullMQ (moveToCompleted).
      const job = await getRunJob(deps.queue, id);
      if (!job || (await job.isCompleted()) || (await job.isFailed())) return;
    }
    await sleep(100);
  }
}

/**
 * Removes the run's BullMQ job in whatever state it is. A worker may take a waiting job between two of these calls:
 * its lock is then revoked too and removal tried again (the worker finds no run document, or fails its next fenced
 * write, and stops).
 */
async function removeJob(deps: ServiceDeps, id: string): Promise<void> {
  if (!jobIdOfRun(id)) return;
  for (let attempt = 0; attempt < 20; attempt++) {
    const job = await getRunJob(deps.queue, id);
    if (!job) return;
    const removed = await job.remove().then(
      () => true,
      () => false,
    );
    if (removed && !(await getRunJob(deps.queue, id))) return;
    await deps.runs.revokeFence(lockKeyOf(deps.env, id));
    await sleep(50);
  }
  throw new Error(`the job of run ${id} could not be removed`);
}
