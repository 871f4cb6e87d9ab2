import { FINAL_STATUSES, SWEEP_EXPORT_FORMAT, jobIdOfRun, newId, type Env, type ImportResult, type RunDocument, type SweepExport } from '@quantlab/shared';
import type { ServiceDeps } from '../deps.ts';
import { sweepRunIds } from './delete.ts';

/** The ids to import under are taken on this cluster (or another ids=same import is writing right now). */
export class ImportConflictError extends Error {}
/** The file breaks a rule of the format (duplicate ids, ids=same with ids that cannot be kept). */
export class ImportInvalidError extends Error {}
/** The file is over one of the import limits (IMPORT_MAX_*, ARTIFACT_MAX_BYTES). */
export class ImportTooLargeError extends Error {}

export type ImportLimits = Pick<Env, 'IMPORT_MAX_RUNS' | 'IMPORT_MAX_EPOCHS_PER_RUN' | 'IMPORT_MAX_STRING_LENGTH' | 'ARTIFACT_MAX_BYTES'>;

/** Checks an export against the import limits before anything is written; throws ImportTooLargeError naming the first. */
export function checkImportLimits(data: SweepExport, limits: ImportLimits): void {
  if (data.runs.length > limits.IMPORT_MAX_RUNS) throw new ImportTooLargeError(`${data.runs.length} runs; at most ${limits.IMPORT_MAX_RUNS} per import (IMPORT_MAX_RUNS)`);
  for (const run of data.runs) {
    if (run.epochs.length > limits.IMPORT_MAX_EPOCHS_PER_RUN) {
      throw new ImportTooLargeError(`run ${run.id} has ${run.epochs.length} epochs; at most ${limits.IMPORT_MAX_EPOCHS_PER_RUN} per run (IMPORT_MAX_EPOCHS_PER_RUN)`);
    }
  }
  const longest = longestString({ sweep: data.sweep, runs: data.runs });
  if (longest.length > limits.IMPORT_MAX_STRING_LENGTH) {
    throw new ImportTooLargeError(`a string at ${longest.path} has ${longest.length} characters; at most ${limits.IMPORT_MAX_STRING_LENGTH} (IMPORT_MAX_STRING_LENGTH)`);
  }
  for (const [id, b64] of Object.entries(data.artifacts)) {
    const bytes = Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
    if (bytes > limits.ARTIFACT_MAX_BYTES) throw new ImportTooLargeError(`the artifact of run ${id} has ${bytes} bytes; at most ${limits.ARTIFACT_MAX_BYTES} (ARTIFACT_MAX_BYTES)`);
  }
}

function longestString(value: unknown, path = '', best = { length: 0, path: '' }): { length: number; path: string } {
  if (typeof value === 'string') {
    if (value.length > best.length) return { length: value.length, path: path || '.' };
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => (best = longestString(v, `${path}[${i}]`, best)));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.length > best.length) best = { length: k.length, path: `${path}.${k} (key)` };
      best = longestString(v, `${path}.${k}`, best);
    }
  }
  return best;
}

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
  checkImportLimits(data, deps.env);
  const same = opts.ids === 'same';
  const seen = new Set<string>();
  for (const run of data.runs) {
    if (seen.has(run.id)) throw new ImportInvalidError(`run id ${run.id} appears twice in the file`);
    seen.add(run.id);
  }
  if (same) {
    // Kept ids become job ids and keys here: only ids of the form this code mints (see jobIdOfRun).
    const bad = [data.sweep.id, ...data.runs.map((r) => r.id)].filter((id, i) => (i === 0 ? !/^swp_[A-Za-z0-9_-]{1,60}$/.test(id) : !jobIdOfRun(id)));
    if (bad.length) throw new ImportInvalidError(`ids=same keeps only ids of the form run_… and swp_…, not ${bad.slice(0, 3).join(', ')}; import with ids=new`);
  }
  const map = new Map<string, string>();
  map.set(data.sweep.id, same ? data.sweep.id : newId('swp'));
  for (const run of data.runs) map.set(run.id, same ? run.id : newId('run'));
  const mapped = (id: string | null) => (id && map.has(id) ? map.get(id)! : null);
  // ids=same: one import at a time checks and writes (a check then a write, unguarded, let two imports both pass the
  // check and overwrite each other). ids=new needs no guard: its ids are fresh.
  const release = same ? await deps.runs.claimImport() : null;
  if (same && !release) throw new ImportConflictError('another ids=same import is being written; try again in a moment');
  try {
    if (same) {
      const taken = (await deps.sweeps.get(data.sweep.id)) ? [data.sweep.id] : [];
      for (const run of data.runs) if (await deps.runs.exists(run.id)) taken.push(run.id);
      if (taken.length) throw new ImportConflictError(`ids already exist on this cluster: ${taken.slice(0, 5).join(', ')}${taken.length > 5 ? ', …' : ''}`);
    }
    return await write();
  } finally {
    await release?.();
  }

  async function write(): Promise<ImportResult> {
    const sweepId = map.get(data.sweep.id)!;
    const importedAt = new Date().toISOString();
    const docs: RunDocument[] = data.runs.map((run) => {
      const unfinished = !FINAL_STATUSES.includes(run.status);
      return {
        ...run,
        id: map.get(run.id)!,
        sweepId,
        baselineId: mapped(run.baselineId),
        retryOf: mapped(run.retryOf),
        imported: { at: importedAt, exportedAt: data.exportedAt, originalId: run.id },
        ...(unfinished
          ? { status: 'cancelled' as const, finishedAt: data.exportedAt, error: { message: `imported while ${run.status}: it is not queued on this cluster (retry it to run it)` } }
          : {}),
      };
    });
    // All or nothing: the runs with their epochs and artifacts, their index entries and the sweep record in one MULTI
    // (validated above, so no command in it can fail half-way).
    const originalOf = new Map(data.runs.map((r) => [map.get(r.id)!, r.id]));
    await deps.runs.importMany(
      docs.map((doc) => {
        const original = originalOf.get(doc.id)!;
        // Own keys only: an id like `toString` must not find Object.prototype's.
        const b64 = Object.hasOwn(data.artifacts, original) ? data.artifacts[original] : undefined;
        return { doc, artifact: b64 ? Buffer.from(b64, 'base64') : null };
      }),
      (m) =>
        deps.sweeps.queueCreate(m, {
          ...data.sweep,
          id: sweepId,
          runIds: data.sweep.runIds.map((r) => mapped(r)).filter((r): r is string => r !== null),
          baselines: Object.fromEntries(Object.entries(data.sweep.baselines).flatMap(([seed, r]) => (mapped(r) ? [[seed, mapped(r)!]] : []))),
        }),
    );
    const runIds = docs.map((d) => d.id);
    return { id: sweepId, runs: runIds, ids: Object.fromEntries(map), links: { self: `/sweeps/${sweepId}`, runs: `/experiments?sweep=${sweepId}` } };
  }
}
