import { FINAL_STATUSES, isBuiltinDataset, listWorkers, withRelativeAccuracy, type RunDocument, type RunStatus } from '@quantlab/shared';
import type { ApiContext } from './context.ts';
import { HttpProblem } from './problem.ts';

export const runLinks = (id: string) => ({ self: `/experiments/${id}`, events: `/experiments/${id}/events`, artifact: `/experiments/${id}/artifact`, cancel: `/experiments/${id}/cancel` });

/**
 * Stores the documents first, then adds their jobs (job id = run id, so a retried add cannot queue a run twice).
 * If adding fails, the runs are removed again: nothing may stay 'queued' without a job behind it.
 */
export async function enqueueRuns(ctx: ApiContext, docs: RunDocument[]): Promise<void> {
  await checkServable(ctx, docs);
  await ctx.runs.createMany(docs);
  try {
    const jobs = docs.map((doc) => ({
      name: 'run' as const,
      data: { runId: doc.id, config: doc.config, baselineId: doc.config.phase === 'inference' ? doc.baselineId : null },
      opts: { jobId: doc.id, priority: doc.config.priority },
    }));
    if (jobs.length === 1) await ctx.queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
    else await ctx.queue.addBulk(jobs);
  } catch (err) {
    await Promise.all(docs.map((d) => ctx.runs.delete(d.id))).catch(() => {});
    throw new HttpProblem('unavailable', `the run could not be queued (${(err as Error).message}); nothing was stored`, undefined, { 'retry-after': '5' });
  }
}

/**
 * A user dataset (idx:, npz:, folder:) lives on some workers only: when workers are registered and none of them
 * reports it, the run could only fail, so it is refused (422) with the datasets they do serve. Built-in datasets are
 * always accepted, and with no worker registered (scaled to zero, or not started yet) the run waits in the queue.
 */
export async function checkServable(ctx: ApiContext, docs: readonly RunDocument[]): Promise<void> {
  const wanted = [...new Set(docs.map((d) => d.config.dataset).filter((d) => !isBuiltinDataset(d)))];
  if (wanted.length === 0) return;
  const workers = await listWorkers(ctx.redis, ctx.env.KEY_PREFIX);
  if (workers.length === 0) return;
  const served = new Set(workers.flatMap((w) => w.datasets));
  const missing = wanted.filter((d) => !served.has(d));
  if (missing.length === 0) return;
  const offered = [...served].filter((d) => !isBuiltinDataset(d)).sort();
  throw new HttpProblem(
    'dataset-unavailable',
    `no registered worker serves dataset ${missing.join(', ')}; the ${workers.length} registered worker(s) serve ${offered.length ? offered.join(', ') : 'no user datasets'} besides the built-ins (put the files under each worker's DATA_DIR)`,
    missing.map((d) => ({ path: ['dataset'], message: `no worker serves ${d}` })),
  );
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
