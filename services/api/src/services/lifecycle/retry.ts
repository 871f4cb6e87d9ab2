import { FINAL_STATUSES, isRetryable, newId, newRunDocument, type RunDocument } from '@quantlab/shared';
import { HttpProblem } from '../../problem.ts';
import type { ServiceDeps } from '../deps.ts';
import { enqueueRuns, readRun, runLinks } from '../experiments.ts';
import { getSweepRecord } from '../sweeps.ts';

/**
 * Plans retries: for each old run, the fields of its new attempt (same config, sweep and baseline, retryOf = old id).
 * When a sweep's baseline is retried together with runs that compare against it, those compare against its new attempt.
 */
export function retryLinks(olds: readonly RunDocument[], newIds: readonly string[]): { retryOf: string; sweepId: string | null; baselineId: string | null }[] {
  const renamed = new Map(olds.map((d, i) => [d.id, newIds[i]]));
  return olds.map((d) => ({ retryOf: d.id, sweepId: d.sweepId, baselineId: d.baselineId ? (renamed.get(d.baselineId) ?? d.baselineId) : null }));
}

/** POST /experiments/:id/retry: 409 unless the run failed or was cancelled. */
export async function retryRun(deps: ServiceDeps, id: string) {
  const old = await readRun(deps, id);
  if (!isRetryable(old)) throw new HttpProblem('conflict', `run ${old.id} is ${old.status}; only a failed or cancelled run can be retried`);
  const [doc] = await retry(deps, [old]);
  return { id: doc.id, status: doc.status, retryOf: old.id, links: { ...runLinks(doc.id), retryOf: `/experiments/${old.id}` } };
}

/** POST /sweeps/:id/retry: every failed or cancelled run of the sweep again. */
export async function retrySweep(deps: ServiceDeps, id: string) {
  const rec = await getSweepRecord(deps, id);
  const olds = (await deps.runs.getMany(rec.runIds)).filter(isRetryable);
  const docs = await retry(deps, olds);
  return { id: rec.id, runs: docs.map((d) => ({ id: d.id, retryOf: d.retryOf! })) };
}

/** Queues a new attempt of each run (same config; sweep, baseline and retryOf linked) and links them into their sweeps. */
async function retry(deps: ServiceDeps, olds: RunDocument[]): Promise<RunDocument[]> {
  if (olds.length === 0) return [];
  const ids = olds.map(() => newId('run'));
  const links = retryLinks(olds, ids);
  // Baselines first: their priority is already the better one, and queue order breaks ties.
  const docs = olds.map((old, i) => newRunDocument(old.config, { id: ids[i], sweepId: links[i].sweepId, baselineId: links[i].baselineId, retryOf: links[i].retryOf, stopping: old.stopping }));
  docs.sort((a, b) => Number(!!a.baselineId) - Number(!!b.baselineId));
  await enqueueRuns(deps, docs);
  const bySweep = new Map<string, [string, string][]>();
  for (const d of docs) if (d.sweepId) bySweep.set(d.sweepId, [...(bySweep.get(d.sweepId) ?? []), [d.retryOf!, d.id]]);
  for (const [sweepId, pairs] of bySweep) await linkRetriesInSweep(deps, sweepId, pairs);
  return docs;
}

/**
 * After retries [old, new] of a sweep's runs: the sweep lists each new attempt in place of the old one (its status and
 * summary then follow the latest attempts; the old one keeps its sweepId and is reached through retryOf), its
 * baselines map points at retried baselines' new attempts, and finished runs that compared against a retried baseline
 * compare against its new attempt (unfinished ones are left to their jobs).
 */
export async function linkRetriesInSweep(deps: ServiceDeps, sweepId: string, pairs: [string, string][]): Promise<void> {
  if (pairs.length === 0) return;
  await deps.sweeps.editRuns(sweepId, pairs);
  const renamed = new Map(pairs);
  const rec = await deps.sweeps.get(sweepId);
  if (!rec) return;
  const fields = await deps.runs.fields(rec.runIds, ['status', 'baselineId']);
  await Promise.all(
    rec.runIds.map((id, i) => {
      const f = fields[i];
      if (!f?.baselineId || !renamed.has(f.baselineId) || !FINAL_STATUSES.includes(f.status)) return null;
      return deps.runs.update(id, { baselineId: renamed.get(f.baselineId)! });
    }),
  );
}
