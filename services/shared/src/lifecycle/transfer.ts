import { z } from 'zod';
import { newId } from '../ids.ts';
import { LIMITS } from '../schemas/experiment.ts';
import { FINAL_STATUSES, RunDocument, RunId } from '../schemas/run.ts';
import { SweepRecord } from '../schemas/sweep.ts';
import type { LifecycleDeps } from './deps.ts';
import { sweepRunIds } from './sweep-runs.ts';

export const SWEEP_EXPORT_FORMAT = 'quantlab-sweep-export';

/**
 * A sweep moved between clusters (`quantlab export` / `quantlab import`): its record, every run document as stored
 * (epochs included; relativeAccuracy is derived when read, so it is not in them) and each run's artifact in base64.
 */
export const SweepExport = z.object({
  format: z.literal(SWEEP_EXPORT_FORMAT),
  version: z.literal(1),
  exportedAt: z.string(),
  sweep: SweepRecord.extend({ id: RunId, runIds: z.array(RunId).max(LIMITS.maxSweepRuns * 4) }),
  runs: z.array(RunDocument.extend({ id: RunId })).max(LIMITS.maxSweepRuns * 4),
  /** runId -> the packed artifact, base64. */
  artifacts: z.record(RunId, z.base64()),
});
export type SweepExport = z.infer<typeof SweepExport>;

export const ImportQuery = z.strictObject({
  /** new (default): fresh ids, so a sweep can be imported next to its original; same: keep them (409 if taken). */
  ids: z.enum(['new', 'same']).default('new'),
});

export const ImportResult = z.object({
  id: z.string(),
  runs: z.array(z.string()),
  /** Original id -> id on this cluster. */
  ids: z.record(z.string(), z.string()),
  links: z.object({ self: z.string(), runs: z.string() }),
});
export type ImportResult = z.infer<typeof ImportResult>;

/** The ids to import under are taken on this cluster. */
export class ImportConflictError extends Error {}

export async function exportSweep(deps: LifecycleDeps, id: string): Promise<SweepExport | null> {
  const rec = await deps.sweeps.get(id);
  if (!rec) return null;
  const runs = await deps.runs.getMany(await sweepRunIds(deps, rec));
  const artifacts: Record<string, string> = {};
  for (const run of runs) {
    const bytes = run.artifact ? await deps.runs.getArtifact(run.id) : null;
    if (bytes) artifacts[run.id] = bytes.toString('base64');
  }
  return { format: SWEEP_EXPORT_FORMAT, version: 1, exportedAt: new Date().toISOString(), sweep: rec, runs, artifacts };
}

/**
 * Recreates an exported sweep and its runs, statuses, epochs and artifacts; nothing is queued. A run that was queued
 * or running when exported has no job here, so it is imported as cancelled with a note (POST .../retry runs it).
 */
export async function importSweep(deps: LifecycleDeps, data: SweepExport, opts: { ids?: 'new' | 'same' } = {}): Promise<ImportResult> {
  const same = opts.ids === 'same';
  const map = new Map<string, string>();
  map.set(data.sweep.id, same ? data.sweep.id : newId('swp'));
  for (const run of data.runs) map.set(run.id, same ? run.id : newId('run'));
  const mapped = (id: string | null) => (id && map.has(id) ? map.get(id)! : null);
  if (same) {
    const taken = (await deps.sweeps.get(data.sweep.id)) ? [data.sweep.id] : [];
    for (const run of data.runs) if (await deps.runs.exists(run.id)) taken.push(run.id);
    if (taken.length) throw new ImportConflictError(`ids already exist on this cluster: ${taken.slice(0, 5).join(', ')}${taken.length > 5 ? ', …' : ''}`);
  }
  const sweepId = map.get(data.sweep.id)!;
  const docs: RunDocument[] = data.runs.map((run) => {
    const unfinished = !FINAL_STATUSES.includes(run.status);
    return {
      ...run,
      id: map.get(run.id)!,
      sweepId,
      baselineId: mapped(run.baselineId),
      retryOf: mapped(run.retryOf),
      ...(unfinished
        ? { status: 'cancelled' as const, finishedAt: data.exportedAt, error: { message: `imported while ${run.status}: it is not queued on this cluster (retry it to run it)` } }
        : {}),
    };
  });
  const created: string[] = [];
  try {
    for (const doc of docs) {
      await deps.runs.create(doc);
      created.push(doc.id);
      const m = deps.redis.multi();
      if (doc.epochs.length) m.hset(deps.runs.keys.epochs(doc.id), Object.fromEntries(doc.epochs.map((e) => [String(e.epoch), JSON.stringify(e)])));
      const original = data.runs.find((r) => map.get(r.id) === doc.id)!.id;
      if (data.artifacts[original]) m.set(deps.runs.keys.artifact(doc.id), Buffer.from(data.artifacts[original], 'base64'));
      await m.exec();
    }
    await deps.sweeps.create({
      ...data.sweep,
      id: sweepId,
      runIds: data.sweep.runIds.map((r) => mapped(r)).filter((r): r is string => r !== null),
      baselines: Object.fromEntries(Object.entries(data.sweep.baselines).flatMap(([seed, r]) => (mapped(r) ? [[seed, mapped(r)!]] : []))),
    });
  } catch (e) {
    // All or nothing: a half-imported sweep would be worse than none.
    for (const id of created) await deps.runs.delete(id).catch(() => {});
    throw e;
  }
  const runIds = docs.map((d) => d.id);
  return { id: sweepId, runs: runIds, ids: Object.fromEntries(map), links: { self: `/sweeps/${sweepId}`, runs: `/experiments?sweep=${sweepId}` } };
}
