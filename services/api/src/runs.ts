import { FINAL_STATUSES, withRelativeAccuracy, type RunDocument, type RunStatus } from '@quantlab/shared';
import type { ApiContext } from './context.ts';
import { HttpProblem } from './problem.ts';
import { isOutOfMemory } from './plugins/errors.ts';

export const runLinks = (id: string) => ({ self: `/experiments/${id}`, events: `/experiments/${id}/events`, artifact: `/experiments/${id}/artifact`, cancel: `/experiments/${id}/cancel` });

/**
 * Stores the documents first, then adds their jobs (job id = run id, so a retried add cannot queue a run twice).
 * If adding fails, the runs are removed again: nothing may stay 'queued' without a job behind it.
 */
export async function enqueueRuns(ctx: ApiContext, docs: RunDocument[]): Promise<void> {
  const undo = () => Promise.all(docs.map((d) => ctx.runs.delete(d.id))).catch(() => {});
  try {
    await ctx.runs.createMany(docs);
  } catch (err) {
    // A command timeout (Redis hung) does not mean the MULTI was not executed: Redis may run it once it resumes. The
    // deletes queue behind it on the same connection, so they run after it, and no run stays without a job.
    void undo();
    throw err;
  }
  try {
    const jobs = docs.map((doc) => ({
      name: 'run' as const,
      data: { runId: doc.id, config: doc.config, baselineId: doc.config.phase === 'inference' ? doc.baselineId : null },
      opts: { jobId: doc.id, priority: doc.config.priority },
    }));
    if (jobs.length === 1) await ctx.queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
    else await ctx.queue.addBulk(jobs);
  } catch (err) {
    // Likewise a job whose add timed out may still be added: remove it behind the add (same connection, in order).
    void Promise.all(docs.map((d) => ctx.queue.remove(d.id))).catch(() => {});
    await undo();
    if (isOutOfMemory(err)) throw err;
    throw new HttpProblem('unavailable', `the run could not be queued (${(err as Error).message}); nothing was stored`, undefined, { 'retry-after': '5' });
  }
}

/** Documents with relative accuracy filled in from their baselines (fetched in one round trip). */
export async function readRuns(ctx: ApiContext, ids: readonly string[]): Promise<RunDocument[]> {
  const docs = await ctx.runs.getMany(ids);
  return withBaselines(ctx, docs);
}

export async function withBaselines(ctx: ApiContext, docs: RunDocument[]): Promise<RunDocument[]> {
  const want = [...new Set(docs.filter((d) => d.baselineId && d.status === 'completed').map((d) => d.baselineId as string))];
  if (want.length === 0) return docs.map((d) => withRelativeAccuracy(d, null));
  const known = new Map(docs.map((d) => [d.id, d]));
  const missing = want.filter((id) => !known.has(id));
  if (missing.length) {
    const p = ctx.redis.pipeline();
    for (const id of missing) p.hmget(ctx.runs.keys.run(id), 'status', 'metrics');
    const res = (await p.exec()) ?? [];
    missing.forEach((id, i) => {
      const [err, vals] = res[i] as [Error | null, (string | null)[]];
      if (err || !vals[0] || !vals[1]) return;
      known.set(id, { status: JSON.parse(vals[0]) as RunStatus, metrics: JSON.parse(vals[1]) } as RunDocument);
    });
  }
  return docs.map((d) => withRelativeAccuracy(d, d.baselineId ? known.get(d.baselineId) : null));
}

export async function readRun(ctx: ApiContext, id: string): Promise<RunDocument> {
  const doc = await ctx.runs.get(id);
  if (!doc) throw new HttpProblem('not-found', `no experiment with id ${id}`);
  return (await withBaselines(ctx, [doc]))[0];
}

/**
 * Cancels a run. Queued: its job is removed and the run marked cancelled, so it never starts. Running (or a job a
 * worker has just locked): the run's `cancelRequested` field is set; the worker checks it every batch and ends the
 * run cancelled, keeping its finished epochs.
 */
export async function cancelRun(ctx: ApiContext, doc: RunDocument): Promise<{ status: RunStatus; cancelRequested: boolean }> {
  if (FINAL_STATUSES.includes(doc.status)) return { status: doc.status, cancelRequested: false };
  if (doc.status === 'queued') {
    const job = await ctx.queue.getJob(doc.id);
    let removed = !job;
    if (job) {
      // remove() refuses a job a worker holds the lock of; then it is running in all but name.
      removed = await job.remove().then(
        () => true,
        () => false,
      );
    }
    if (removed) {
      const finishedAt = new Date().toISOString();
      await ctx.runs.update(doc.id, { status: 'cancelled', finishedAt, error: null }, undefined, { type: 'status', runId: doc.id, status: 'cancelled', error: null });
      return { status: 'cancelled', cancelRequested: false };
    }
  }
  await ctx.redis.hset(ctx.runs.keys.run(doc.id), 'cancelRequested', 'true');
  return { status: doc.status, cancelRequested: true };
}
