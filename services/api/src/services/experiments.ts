import { CursorError, FINAL_STATUSES, getRunJob, isBuiltinDataset, runJob, withRelativeAccuracy, type RunDocument, type ExportFormat, type RunListQuery, type RunStatus } from '@quantlab/shared';
import { EXPORT_EXTENSIONS, EXPORT_MEDIA_TYPES, ExportError, exportArtifact } from '@quantlab/ml/export/index';
import { isOutOfMemory } from '../plugins/errors.ts';
import { HttpProblem, notFound } from '../problem.ts';
import type { ServiceDeps } from './deps.ts';
import { checkModels } from './models.ts';

export const runLinks = (id: string) => ({ self: `/experiments/${id}`, events: `/experiments/${id}/events`, artifact: `/experiments/${id}/artifact`, cancel: `/experiments/${id}/cancel` });

/**
 * Stores the documents first, then adds their jobs (job id = run id, so a retried add cannot queue a run twice).
 * If adding fails, the runs are removed again: nothing may stay 'queued' without a job behind it.
 */
export async function enqueueRuns(deps: ServiceDeps, docs: RunDocument[]): Promise<void> {
  await checkServable(deps, docs);
  await checkModels(deps, docs);
  const undo = () => Promise.all(docs.map((d) => deps.runs.delete(d.id))).catch(() => {});
  try {
    await deps.runs.createMany(docs);
  } catch (err) {
    // A command timeout (Redis hung) does not mean the MULTI was not executed: Redis may run it once it resumes. The
    // deletes queue behind it on the same connection, so they run after it, and no run stays without a job.
    void undo();
    throw err;
  }
  try {
    const jobs = docs.map((doc) => runJob(doc));
    if (jobs.length === 1) await deps.queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
    else await deps.queue.addBulk(jobs);
  } catch (err) {
    // Likewise a job whose add timed out may still be added: remove it behind the add (same connection, in order).
    void Promise.all(docs.map((d) => deps.queue.remove(d.id))).catch(() => {});
    await undo();
    if (isOutOfMemory(err)) throw err;
    throw new HttpProblem('unavailable', `the run could not be queued (${(err as Error).message}); nothing was stored`, undefined, { 'retry-after': '5' });
  }
}

/**
 * A user dataset (idx:, npz:, folder:) lives on some workers only: when workers are registered and none of them
 * reports it, the run could only fail, so it is refused (422) with the datasets they do serve. Built-in datasets are
 * always accepted, and with no worker registered (scaled to zero, or not started yet) the run waits in the queue.
 */
export async function checkServable(deps: ServiceDeps, docs: readonly RunDocument[]): Promise<void> {
  const wanted = [...new Set(docs.map((d) => d.config.dataset).filter((d) => !isBuiltinDataset(d)))];
  if (wanted.length === 0) return;
  const workers = await deps.workers.list();
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
export async function readRuns(deps: ServiceDeps, ids: readonly string[]): Promise<RunDocument[]> {
  return withBaselines(deps, await deps.runs.getMany(ids));
}

export async function withBaselines(deps: ServiceDeps, docs: RunDocument[]): Promise<RunDocument[]> {
  const want = [...new Set(docs.filter((d) => d.baselineId && d.status === 'completed').map((d) => d.baselineId as string))];
  if (want.length === 0) return docs.map((d) => withRelativeAccuracy(d, null));
  const known = new Map<string, Pick<RunDocument, 'status' | 'metrics'>>(docs.map((d) => [d.id, d]));
  const missing = want.filter((id) => !known.has(id));
  const fetched = await deps.runs.fields(missing, ['status', 'metrics']);
  missing.forEach((id, i) => {
    const f = fetched[i];
    if (f?.status && f.metrics) known.set(id, f);
  });
  return docs.map((d) => withRelativeAccuracy(d, d.baselineId ? known.get(d.baselineId) : null));
}

export async function readRun(deps: ServiceDeps, id: string): Promise<RunDocument> {
  const doc = await deps.runs.get(id);
  if (!doc) throw new HttpProblem('not-found', `no experiment with id ${id}`);
  return (await withBaselines(deps, [doc]))[0];
}

// Key and value quotes are never escaped in JSON text, so these cannot match inside a string value.
const BASELINE_OR_SWEEP = /"(?:baselineId|sweepId)":"/;
const COMPLETED = '{"status":"completed",';
const NO_BASELINE = '"baselineId":null,"sweepId":';

/**
 * Whether a document's relative accuracy must be joined: a completed run with a baseline or in a sweep. The store
 * renders status, baselineId and sweepId first (renderRunJson), so the first 60 bytes decide; searching the whole
 * text (4 KB for 20 epochs) cost 1–3 µs a read, the largest cost of a run read that its floor does not have. Text
 * in another order (a copy rendered before) is searched.
 */
function needsJoin(j: string): boolean {
  if (j.startsWith(COMPLETED)) {
    if (j.startsWith('"baselineId":"', COMPLETED.length)) return true;
    if (j.startsWith(NO_BASELINE, COMPLETED.length)) return j.charCodeAt(COMPLETED.length + NO_BASELINE.length) === 34; // a string
  } else if (j.startsWith('{"status":"')) {
    return false; // the top level's status is another one
  }
  return j.includes('"status":"completed"') && BASELINE_OR_SWEEP.test(j);
}

/**
 * Documents as JSON, relative accuracy joined in: the read path of server.ts, which sends the bytes as they are. A
 * finished run's JSON comes rendered from the store; only a completed run that compares against a baseline is parsed
 * and written again (its relative accuracy depends on the baseline, which can change). Missing runs are skipped.
 */
export async function readRunsJson(deps: ServiceDeps, ids: readonly string[]): Promise<string[]> {
  return joinJson(deps, (await deps.runs.getJson(ids)).filter((j): j is string => j !== null));
}

async function joinJson(deps: ServiceDeps, jsons: string[]): Promise<string[]> {
  const needs = jsons.map(needsJoin);
  if (!needs.some(Boolean)) return jsons;
  const docs = jsons.map((j, i) => (needs[i] ? (JSON.parse(j) as RunDocument) : null));
  const joined = await withBaselines(deps, docs.filter((d): d is RunDocument => d !== null));
  let k = 0;
  return jsons.map((j, i) => {
    if (!needs[i]) return j;
    const d = joined[k++];
    return d === docs[i] ? j : JSON.stringify(d);
  });
}

/** One run's document as JSON (see readRunsJson); a finished run without a baseline is one GET and nothing else. */
export async function readRunJson(deps: ServiceDeps, id: string): Promise<string> {
  const json = await deps.runs.getJsonOne(id);
  if (json === null) throw new HttpProblem('not-found', `no experiment with id ${id}`);
  return needsJoin(json) ? (await joinJson(deps, [json]))[0] : json;
}

/** GET /experiments as JSON text (see readRunsJson). */
export async function listRunsJson(deps: ServiceDeps, q: RunListQuery): Promise<string> {
  const page = await listPage(deps, q);
  return `{"items":[${(await readRunsJson(deps, page.ids)).join(',')}],"nextCursor":${JSON.stringify(page.nextCursor)}}`;
}

async function listPage(deps: ServiceDeps, q: RunListQuery): Promise<{ ids: string[]; nextCursor: string | null }> {
  const order = q.sweep ? ((await deps.sweeps.get(q.sweep))?.runIds ?? []) : undefined;
  return deps.runs
    .listIds({ limit: q.limit, cursor: q.cursor ?? null, filter: { status: q.status, dataset: q.dataset, kind: q.kind, sweepId: q.sweep }, order })
    .catch((err: Error) => {
      throw err instanceof CursorError ? new HttpProblem('validation', err.message, [{ path: ['cursor'], message: err.message }]) : err;
    });
}

/** GET /experiments: newest first, filters combined, from the store's indexes (a sweep's runs in its own order). */
export async function listRuns(deps: ServiceDeps, q: RunListQuery): Promise<{ items: RunDocument[]; nextCursor: string | null }> {
  const page = await listPage(deps, q);
  return { items: await readRuns(deps, page.ids), nextCursor: page.nextCursor };
}

/**
 * Cancels a run. Queued: its job is removed and the run marked cancelled, so it never starts. Running (or a job a
 * worker has just locked): a cancel request is stored; the worker checks it every batch and ends the run cancelled,
 * keeping its finished epochs. A finished run is left as it is.
 */
export async function cancelRunDoc(deps: ServiceDeps, doc: Pick<RunDocument, 'id' | 'status'>): Promise<{ status: RunStatus; cancelRequested: boolean }> {
  if (FINAL_STATUSES.includes(doc.status)) return { status: doc.status, cancelRequested: false };
  if (doc.status === 'queued') {
    const job = await getRunJob(deps.queue, doc.id);
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
      await deps.runs.update(doc.id, { status: 'cancelled', finishedAt, error: null }, undefined, { type: 'status', runId: doc.id, status: 'cancelled', error: null });
      return { status: 'cancelled', cancelRequested: false };
    }
  }
  await deps.runs.requestCancel(doc.id);
  return { status: doc.status, cancelRequested: true };
}

/** POST /experiments/:id/cancel: 409 for a finished run. */
export async function cancelRun(deps: ServiceDeps, id: string): Promise<{ id: string; status: RunStatus; cancelRequested: boolean }> {
  const status = await deps.runs.status(id);
  if (status === null) throw new HttpProblem('not-found', `no experiment with id ${id}`);
  if (FINAL_STATUSES.includes(status)) throw new HttpProblem('conflict', `run ${id} has already finished (${status})`);
  return { id, ...(await cancelRunDoc(deps, { id, status })) };
}

/**
 * A run's model exported from its artifact (docs/EXPORT.md): 404 for no run, 409 while it has no artifact or when its
 * artifact names no model graph the exporter knows.
 */
export async function runExport(deps: ServiceDeps, id: string, format: ExportFormat): Promise<{ bytes: Uint8Array; mediaType: string; filename: string }> {
  const artifact = await deps.runs.getArtifact(id);
  if (!artifact) {
    const exists = await deps.runs.exists(id);
    throw exists ? new HttpProblem('conflict', `run ${id} has no artifact (yet): only a completed run can be exported`) : notFound('experiment', id);
  }
  try {
    return { bytes: exportArtifact(artifact, format), mediaType: EXPORT_MEDIA_TYPES[format], filename: `${id}${EXPORT_EXTENSIONS[format]}` };
  } catch (e) {
    if (e instanceof ExportError) throw new HttpProblem('conflict', `run ${id} cannot be exported: ${e.message}`);
    throw e;
  }
}

/** The packed artifact's bytes; 404 with the reason when there are none. */
export async function runArtifact(deps: ServiceDeps, id: string): Promise<Buffer> {
  const bytes = await deps.runs.getArtifact(id);
  if (bytes) return bytes;
  const exists = await deps.runs.exists(id);
  throw new HttpProblem('not-found', exists ? `run ${id} has no artifact (yet)` : `no experiment with id ${id}`);
}
