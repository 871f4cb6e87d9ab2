import { FINAL_STATUSES, SWEEP_EXPORT_FORMAT, newId, type ImportResult, type RunDocument, type SweepExport } from '@quantlab/shared';
import type { ServiceDeps } from '../deps.ts';
import { sweepRunIds } from './delete.ts';

/** The ids to import under are taken on this cluster. */
export class ImportConflictError extends Error {}

export async function exportSweep(deps: ServiceDeps, id: string): Promise<SweepExport | null> {
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
export async function importSweep(deps: ServiceDeps, data: SweepExport, opts: { ids?: 'new' | 'same' } = {}): Promise<ImportResult> {
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
  // All or nothing: the runs with their epochs and artifacts in one MULTI, then the sweep record (a half-imported
  // sweep would be worse than none).
  await deps.runs.importMany(
    docs.map((doc) => {
      const original = data.runs.find((r) => map.get(r.id) === doc.id)!.id;
      return { doc, artifact: data.artifacts[original] ? Buffer.from(data.artifacts[original], 'base64') : null };
    }),
  );
  try {
    await deps.sweeps.create({
      ...data.sweep,
      id: sweepId,
      runIds: data.sweep.runIds.map((r) => mapped(r)).filter((r): r is string => r !== null),
      baselines: Object.fromEntries(Object.entries(data.sweep.baselines).flatMap(([seed, r]) => (mapped(r) ? [[seed, mapped(r)!]] : []))),
    });
  } catch (e) {
    for (const doc of docs) await deps.runs.delete(doc.id).catch(() => {});
    throw e;
  }
  const runIds = docs.map((d) => d.id);
  return { id: sweepId, runs: runIds, ids: Object.fromEntries(map), links: { self: `/sweeps/${sweepId}`, runs: `/experiments?sweep=${sweepId}` } };
}
