import { z } from 'zod';
import { FINAL_STATUSES, RunStatus, type RunDocument } from '../schemas/run.ts';
import type { LifecycleDeps } from './deps.ts';
import { editSweepRuns } from './sweep-membership.ts';

/** Only a run that ended without a result is run again; a completed run is final. */
export const RETRYABLE_STATUSES: readonly RunStatus[] = ['failed', 'cancelled'];
export const isRetryable = (doc: Pick<RunDocument, 'status'>) => RETRYABLE_STATUSES.includes(doc.status);

export const RetryAccepted = z.object({
  id: z.string(),
  status: RunStatus,
  retryOf: z.string(),
  links: z.object({ self: z.string(), events: z.string().optional(), retryOf: z.string() }),
});
export type RetryAccepted = z.infer<typeof RetryAccepted>;

export const SweepRetryResult = z.object({
  id: z.string(),
  /** The new runs, each linked to the run it retries. */
  runs: z.array(z.object({ id: z.string(), retryOf: z.string() })),
});
export type SweepRetryResult = z.infer<typeof SweepRetryResult>;

/**
 * Plans retries: for each old run, the fields of its new attempt (same config, sweep and baseline, retryOf = old id).
 * When a sweep's baseline is retried together with runs that compare against it, those compare against its new attempt.
 */
export function retryLinks(olds: readonly RunDocument[], newIds: readonly string[]): { retryOf: string; sweepId: string | null; baselineId: string | null }[] {
  const renamed = new Map(olds.map((d, i) => [d.id, newIds[i]]));
  return olds.map((d) => ({ retryOf: d.id, sweepId: d.sweepId, baselineId: d.baselineId ? (renamed.get(d.baselineId) ?? d.baselineId) : null }));
}

/**
 * After retries [old, new] of a sweep's runs: the sweep lists each new attempt in place of the old one (its status and
 * summary then follow the latest attempts; the old one keeps its sweepId and is reached through retryOf), its
 * baselines map points at retried baselines' new attempts, and finished runs that compared against a retried baseline
 * compare against its new attempt (unfinished ones are left to their jobs).
 */
export async function linkRetriesInSweep(deps: LifecycleDeps, sweepId: string, pairs: [string, string][]): Promise<void> {
  if (pairs.length === 0) return;
  await editSweepRuns(deps.redis, deps.runs.keys.sweep(sweepId), pairs);
  const renamed = new Map(pairs);
  const rec = await deps.sweeps.get(sweepId);
  if (!rec) return;
  const docs = await deps.runs.getMany(rec.runIds);
  const m = deps.redis.multi();
  let n = 0;
  for (const d of docs) {
    if (d.baselineId && renamed.has(d.baselineId) && FINAL_STATUSES.includes(d.status)) {
      m.hset(deps.runs.keys.run(d.id), 'baselineId', JSON.stringify(renamed.get(d.baselineId)));
      n++;
    }
  }
  if (n) await m.exec();
}
