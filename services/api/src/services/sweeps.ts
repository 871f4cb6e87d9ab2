import {
  CursorError,
  FINAL_STATUSES,
  SweepPlanError,
  countByStatus,
  newId,
  newRunDocument,
  planSweep,
  listPresetInfo,
  summarize,
  sweepStatus,
  type RunDocument,
  type RunStatus,
  type SweepRecord,
  type SweepRequest,
} from '@quantlab/shared';
import { HttpProblem } from '../problem.ts';
import type { ServiceDeps } from './deps.ts';
import { cancelRunDoc, enqueueRuns, readRuns, readRunsJson } from './experiments.ts';

/** A sweep planned and named, not stored yet: the route decides the response (idempotency) before creating it. */
export interface PlannedSweep {
  record: SweepRecord;
  docs: RunDocument[];
  accepted: { id: string; runs: string[]; baselines: Record<string, string>; links: { self: string; runs: string } };
}

/** Expands and validates a sweep request into its runs (400 problems for a bad or too large grid). */
export function planSweepRuns(body: SweepRequest, maxRuns: number): PlannedSweep {
  let plan;
  try {
    plan = planSweep(body, maxRuns);
  } catch (err) {
    if (err instanceof SweepPlanError) throw new HttpProblem(err.kind === 'too-large' ? 'sweep-too-large' : 'validation', err.message, err.issues);
    throw err;
  }
  const id = newId('swp');
  const now = Date.now();
  const ids = plan.runs.map(() => newId('run'));
  // A millisecond apart, in queue order, so lists (newest first) show a sweep's runs in a stable order.
  const createdAtOf = (i: number) => new Date(now + i).toISOString();
  const baselines: Record<string, string> = {};
  for (const [key, index] of plan.baselineOf) baselines[key] = ids[index];
  const docs = plan.runs.map((run, i) =>
    newRunDocument(run.config, { id: ids[i], sweepId: id, baselineId: run.isBaseline ? null : (baselines[run.baselineKey] ?? null), createdAt: createdAtOf(i), stopping: run.stopping }),
  );
  const record: SweepRecord = {
    id,
    name: plan.name,
    createdAt: new Date(now).toISOString(),
    preset: 'preset' in body ? body.preset : null,
    budget: 'preset' in body ? body.budget : null,
    request: body,
    runIds: ids,
    baselines,
  };
  return { record, docs, accepted: { id, runs: ids, baselines, links: { self: `/sweeps/${id}`, runs: `/experiments?sweep=${id}` } } };
}

/** Stores the sweep record, then its runs and jobs; if queueing fails, the record goes again. */
export async function createSweep(deps: ServiceDeps, planned: PlannedSweep): Promise<void> {
  await deps.sweeps.create(planned.record);
  try {
    await enqueueRuns(deps, planned.docs);
  } catch (err) {
    await deps.sweeps.delete(planned.record.id).catch(() => {});
    throw err;
  }
}

export async function getSweepRecord(deps: ServiceDeps, id: string): Promise<SweepRecord> {
  const rec = await deps.sweeps.get(id);
  if (!rec) throw new HttpProblem('not-found', `no sweep with id ${id}`);
  return rec;
}

/** GET /sweeps: records newest first, each with its runs' status counts (the statuses in one round trip). */
export async function listSweeps(deps: ServiceDeps, q: { limit: number; cursor?: string }) {
  const page = await deps.sweeps.listIds({ limit: q.limit, cursor: q.cursor }).catch((err: Error) => {
    throw err instanceof RangeError || err instanceof CursorError ? new HttpProblem('validation', err.message, [{ path: ['cursor'], message: err.message }]) : err;
  });
  const records = await deps.sweeps.getMany(page.ids);
  const ids = records.flatMap((r) => r.runIds);
  const fields = await deps.runs.fields(ids, ['status']);
  const statuses = new Map<string, RunStatus>();
  ids.forEach((id, i) => fields[i] && statuses.set(id, fields[i]!.status));
  const items = records.map(({ request: _r, ...rec }) => {
    const counts = countByStatus(rec.runIds.flatMap((rid) => (statuses.has(rid) ? [{ status: statuses.get(rid)! }] : [])));
    return { ...rec, status: sweepStatus(counts), counts };
  });
  return { items, nextCursor: page.nextCursor };
}

/** GET /sweeps/:id: the record, its runs (relative accuracy filled in) and the summary per series and bit width. */
export async function readSweep(deps: ServiceDeps, id: string) {
  const rec = await getSweepRecord(deps, id);
  const runs = await readRuns(deps, rec.runIds);
  const counts = countByStatus(runs);
  return { id: rec.id, name: rec.name, status: sweepStatus(counts), createdAt: rec.createdAt, preset: rec.preset, budget: rec.budget, counts, baselines: rec.baselines, runs, summary: summarize(runs) };
}

/**
 * GET /sweeps/:id as JSON text: the runs' rendered documents as they are, the summary computed from them. A finished
 * sweep's document is rendered once and kept by the sweep store (one GET to read); every write to the sweep or to one
 * of its runs drops it in the store's scripts, and a copy rendered before such a write is refused.
 */
export async function readSweepJson(deps: ServiceDeps, id: string): Promise<string> {
  const read = await deps.sweeps.readDocument(id);
  if (!read) throw new HttpProblem('not-found', `no sweep with id ${id}`);
  if (read.json !== null) return read.json;
  const rec = read.record;
  const jsons = await readRunsJson(deps, rec.runIds);
  const runs = jsons.map((j) => JSON.parse(j) as RunDocument);
  const counts = countByStatus(runs);
  const head = JSON.stringify({ id: rec.id, name: rec.name, status: sweepStatus(counts), createdAt: rec.createdAt, preset: rec.preset, budget: rec.budget, counts, baselines: rec.baselines });
  const json = `${head.slice(0, -1)},"runs":[${jsons.join(',')}],"summary":${JSON.stringify(summarize(runs))}}`;
  // Not waited for: a lost fill only means the next read renders again.
  if (keepsRendered(rec, runs)) void deps.sweeps.cacheDocument(id, read.rev, json).catch(() => {});
  return json;
}

/**
 * Whether a rendered sweep stays valid until one of its own runs (or its record) is written: every run is there and
 * finished, and every relative accuracy was joined from a baseline that is a run of this sweep (a baseline elsewhere
 * could change without touching the sweep).
 */
function keepsRendered(rec: SweepRecord, runs: readonly RunDocument[]): boolean {
  if (runs.length === 0 || runs.length !== rec.runIds.length) return false;
  if (!runs.every((r) => FINAL_STATUSES.includes(r.status))) return false;
  const own = new Set(runs.filter((r) => r.sweepId === rec.id).map((r) => r.id));
  return runs.every((r) => r.status !== 'completed' || !r.baselineId || own.has(r.baselineId));
}

/** Cancels every unfinished run of a sweep: queued ones at once, running ones by request. */
export async function cancelSweep(deps: ServiceDeps, id: string): Promise<{ id: string; cancelled: number; cancelRequested: number }> {
  const rec = await getSweepRecord(deps, id);
  const fields = await deps.runs.fields(rec.runIds, ['status']);
  let cancelled = 0;
  let cancelRequested = 0;
  // Queued runs first (newest last), so a worker cannot start one while running ones are being flagged.
  for (let i = 0; i < rec.runIds.length; i++) {
    const status = fields[i]?.status;
    if (!status || FINAL_STATUSES.includes(status)) continue;
    const r = await cancelRunDoc(deps, { id: rec.runIds[i], status });
    if (r.cancelRequested) cancelRequested++;
    else if (r.status === 'cancelled') cancelled++;
  }
  return { id: rec.id, cancelled, cancelRequested };
}

export function listPresets() {
  return { items: listPresetInfo() };
}
