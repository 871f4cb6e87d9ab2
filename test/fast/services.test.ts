// The API's use cases against in-memory fakes of the stores and the queue: no Redis, milliseconds per test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCursor, ExperimentConfig, lockKeyOf, parseEnv, newRunDocument, SweepRequest, type RunDocument, type RunStatus, type StoredModel } from '@quantlab/shared';
import type { ServiceDeps } from '@quantlab/api/services/deps';
import { cancelRun, enqueueRuns, listRuns, readRun, runExport } from '@quantlab/api/services/experiments';
import { cancelSweep, createSweep, planSweepRuns, readSweep } from '@quantlab/api/services/sweeps';
import { deleteRun, deleteSweep } from '@quantlab/api/services/lifecycle/delete';
import { retryRun, retrySweep } from '@quantlab/api/services/lifecycle/retry';
import { applyRetention } from '@quantlab/api/services/lifecycle/retention';
import { exportSweep, importSweep } from '@quantlab/api/services/lifecycle/transfer';
import { deleteModel } from '@quantlab/api/services/models';
import { HttpProblem } from '@quantlab/api/problem';
import { FakeModelStore, FakeQueue, FakeRunStore, FakeSweepStore } from '../helpers/fakes.ts';
import { Float32Quantizer } from '../../services/ml/src/representations/index.ts';

const { KEY_PREFIX, QUEUE_NAME, RETENTION_DAYS, IMPORT_MAX_RUNS, IMPORT_MAX_EPOCHS_PER_RUN, IMPORT_MAX_STRING_LENGTH, ARTIFACT_MAX_BYTES } = parseEnv({ KEY_PREFIX: 'fast', QUEUE_NAME: 'fast-q' });
const env = { KEY_PREFIX, QUEUE_NAME, RETENTION_DAYS, IMPORT_MAX_RUNS, IMPORT_MAX_EPOCHS_PER_RUN, IMPORT_MAX_STRING_LENGTH, ARTIFACT_MAX_BYTES };
function deps() {
  const runs = new FakeRunStore();
  const sweeps = new FakeSweepStore();
  const queue = new FakeQueue((id) => runs.locks.has(lockKeyOf(env, id)));
  // No worker registered: every dataset is accepted and waits in the queue.
  const workers = { list: async () => [] };
  const models = new FakeModelStore();
  return { runs, sweeps, queue, models, deps: { env, runs, sweeps, models, workers, queue: queue as unknown as ServiceDeps['queue'] } satisfies ServiceDeps };
}
const config = (over: object = {}) => ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', ...over });
const problem = (type: string) => (e: unknown) => e instanceof HttpProblem && e.type === type;
const grid = (bits: number[]) => SweepRequest.parse({ name: 's', base: { dataset: 'mnist', model: 'mlp' }, vary: { representation: [{ kind: 'fixed', bits }] } });
const doc = (over: Partial<RunDocument> = {}, cfg: object = {}): RunDocument => ({ ...newRunDocument(config(cfg)), ...over });

test('enqueueRuns stores the runs and queues one job each (job id = run id, the config’s priority)', async () => {
  const f = deps();
  const d = doc({}, { priority: 7 });
  await enqueueRuns(f.deps, [d]);
  assert.equal((await f.runs.get(d.id))?.status, 'queued');
  const job = f.queue.jobs.get(d.id)!;
  assert.deepEqual([job.name, job.opts.jobId, job.opts.priority], ['run', d.id, 7]);
  assert.deepEqual(job.data, { runId: d.id, config: d.config, baselineId: null });
});

test('if the queue refuses the jobs, nothing stays stored and the answer is 503 with Retry-After', async () => {
  const f = deps();
  f.queue.failWith = new Error('Redis away');
  const docs = [doc(), doc()];
  await assert.rejects(enqueueRuns(f.deps, docs), (e) => problem('unavailable')(e) && (e as HttpProblem).headers['retry-after'] === '5');
  assert.equal(f.runs.runs.size, 0);
});

test('cancel: queued -> cancelled at once; locked job -> cancel requested; finished -> 409; unknown -> 404', async () => {
  const f = deps();
  const [a, b, c] = [doc(), doc(), doc({ status: 'completed' })];
  await enqueueRuns(f.deps, [a, b]);
  await f.runs.createMany([c]);
  assert.deepEqual(await cancelRun(f.deps, a.id), { id: a.id, status: 'cancelled', cancelRequested: false });
  assert.equal(f.queue.jobs.has(a.id), false, 'its job is gone: it never starts');
  assert.ok((await f.runs.get(a.id))?.finishedAt);
  f.runs.locks.set(lockKeyOf(env, b.id), 'worker-token'); // a worker took it a moment ago
  assert.deepEqual(await cancelRun(f.deps, b.id), { id: b.id, status: 'queued', cancelRequested: true });
  assert.equal(await f.runs.isCancelRequested(b.id), true);
  await assert.rejects(cancelRun(f.deps, c.id), problem('conflict'));
  await assert.rejects(cancelRun(f.deps, 'run_nope000'), problem('not-found'));
});

test('readRun fills in relative accuracy from the baseline; a missing run is 404', async () => {
  const f = deps();
  const base = doc({ status: 'completed', metrics: { testAccuracy: 0.8, trainLoss: 0.1, durationMs: 1, backend: 'cpu' } });
  const run = doc({ status: 'completed', baselineId: base.id, metrics: { testAccuracy: 0.6, trainLoss: 0.1, durationMs: 1, backend: 'cpu' } });
  await f.runs.createMany([base, run]);
  assert.equal((await readRun(f.deps, run.id)).metrics.relativeAccuracy, 0.6 / 0.8);
  await assert.rejects(readRun(f.deps, 'run_nope000'), problem('not-found'));
});

test('listRuns filters, pages with a cursor, and turns a bad cursor into a 400 on `cursor`', async () => {
  const f = deps();
  const t = Date.parse('2026-01-01T00:00:00Z');
  const docs = Array.from({ length: 5 }, (_, i) => doc({ createdAt: new Date(t + i).toISOString(), status: (i % 2 ? 'failed' : 'queued') as RunStatus }));
  await f.runs.createMany(docs);
  const p1 = await listRuns(f.deps, { limit: 2, status: 'queued' });
  assert.deepEqual(p1.items.map((d) => d.id), [docs[4].id, docs[2].id]);
  const p2 = await listRuns(f.deps, { limit: 2, status: 'queued', cursor: p1.nextCursor! });
  assert.deepEqual([p2.items.map((d) => d.id), p2.nextCursor], [[docs[0].id], null]);
  await assert.rejects(listRuns(f.deps, { limit: 2, cursor: encodeCursor('run_gone0000') }), (e) => problem('validation')(e) && (e as HttpProblem).issues?.[0].path[0] === 'cursor');
});

test('a sweep is planned, stored and queued; cancelling it cancels queued runs and asks running ones to stop', async () => {
  const f = deps();
  const planned = planSweepRuns(grid([4, 8]), 500);
  await createSweep(f.deps, planned);
  assert.equal(f.queue.jobs.size, planned.docs.length);
  const sweep = await readSweep(f.deps, planned.record.id);
  assert.equal(sweep.status, 'queued');
  assert.equal(sweep.runs.length, 3, 'a baseline and two fixed-point runs');
  await f.runs.update(planned.docs[0].id, { status: 'running' });
  assert.deepEqual(await cancelSweep(f.deps, planned.record.id), { id: planned.record.id, cancelled: 2, cancelRequested: 1 });
});

test('a sweep whose runs cannot be queued leaves no record behind', async () => {
  const f = deps();
  f.queue.failWith = new Error('down');
  const planned = planSweepRuns(grid([4]), 500);
  await assert.rejects(createSweep(f.deps, planned), problem('unavailable'));
  assert.equal(f.sweeps.sweeps.size, 0);
  assert.equal(f.runs.runs.size, 0);
});

test('retry: a failed run again with retryOf, linked into its sweep in place; a completed run is 409', async () => {
  const f = deps();
  const planned = planSweepRuns(grid([4]), 500);
  await createSweep(f.deps, planned);
  const [base, run] = planned.docs;
  await f.runs.update(base.id, { status: 'failed' });
  await f.runs.update(run.id, { status: 'completed' });
  await assert.rejects(retryRun(f.deps, run.id), problem('conflict'));
  const r = await retrySweep(f.deps, planned.record.id);
  assert.equal(r.runs.length, 1);
  assert.equal(r.runs[0].retryOf, base.id);
  const rec = (await f.sweeps.get(planned.record.id))!;
  assert.deepEqual(rec.runIds, [r.runs[0].id, run.id], 'the new attempt takes the old one’s place');
  assert.equal(rec.baselines['1'], r.runs[0].id);
  assert.equal((await f.runs.get(run.id))?.baselineId, r.runs[0].id, 'a finished run compares against the new baseline');
  assert.equal(f.queue.jobs.has(r.runs[0].id), true);
});

test('delete: a running run is asked to stop, then cut off (its lock goes with its keys) and leaves its sweep', async () => {
  const f = deps();
  const planned = planSweepRuns(grid([4]), 500);
  await createSweep(f.deps, planned);
  const id = planned.docs[1].id;
  await f.runs.update(id, { status: 'running' });
  f.runs.locks.set(lockKeyOf(env, id), 'worker-token'); // its worker holds the job
  // The worker does not stop within the grace period: the run is cut off, its lock taken with it.
  const requested: boolean[] = [];
  const poll = setInterval(() => void f.runs.isCancelRequested(id).then((v) => v && requested.push(v)), 5);
  assert.equal(await deleteRun(f.deps, id, { graceMs: 100 }), true);
  clearInterval(poll);
  assert.ok(requested.length > 0, 'it was asked to cancel first');
  assert.equal(f.runs.runs.has(id), false);
  assert.equal(f.runs.locks.has(lockKeyOf(env, id)), false, 'its fence is revoked: the worker cannot write again');
  assert.deepEqual((await f.sweeps.get(planned.record.id))!.runIds, [planned.docs[0].id]);
  assert.equal(await deleteRun(f.deps, 'run_nope000'), false);
  assert.equal(await deleteSweep(f.deps, planned.record.id), true);
  assert.equal(f.runs.runs.size, 0);
});

test('retention removes old finished runs except kept ones and the baselines of survivors; empty sweeps go too', async () => {
  const f = deps();
  const day = 86_400_000;
  const now = Date.parse('2026-06-01T00:00:00Z');
  const ago = (d: number) => new Date(now - d * day).toISOString();
  const base = doc({ status: 'completed', createdAt: ago(50), finishedAt: ago(49), sweepId: 'swp_a0000001' });
  const survivor = doc({ status: 'completed', createdAt: ago(2), finishedAt: ago(1), baselineId: base.id, sweepId: 'swp_a0000001' });
  const kept = doc({ status: 'failed', createdAt: ago(60), finishedAt: ago(59) }, { keep: true });
  const old = doc({ status: 'cancelled', createdAt: ago(40), finishedAt: ago(39), sweepId: 'swp_b0000001' });
  const running = doc({ status: 'running', createdAt: ago(45) });
  await f.runs.createMany([base, survivor, kept, old, running]);
  await f.sweeps.create({ id: 'swp_b0000001', name: 'b', createdAt: ago(40), preset: null, budget: null, request: {}, runIds: [old.id], baselines: {} });
  const r = await applyRetention(f.deps, { days: 30, now });
  assert.deepEqual(r, { removed: [old.id], removedSweeps: ['swp_b0000001'], kept: [kept.id, base.id] });
  assert.deepEqual([...f.runs.runs.keys()].sort(), [base.id, survivor.id, kept.id, running.id].sort());
});

test('export and import: a sweep moves with fresh ids, unfinished runs arrive cancelled with a note', async () => {
  const f = deps();
  const planned = planSweepRuns(grid([4]), 500);
  await createSweep(f.deps, planned);
  await f.runs.update(planned.docs[0].id, { status: 'completed', artifact: { bytes: 3, format: 'quantlab-artifact/1' } });
  await f.runs.setArtifact(planned.docs[0].id, new Uint8Array([1, 2, 3]));
  const data = (await exportSweep(f.deps, planned.record.id))!;
  const g = deps();
  const r = await importSweep(g.deps, JSON.parse(JSON.stringify(data)));
  assert.equal(r.runs.length, 2);
  const [a, b] = await g.runs.getMany(r.runs);
  assert.equal(a.status, 'completed');
  assert.deepEqual([...(await g.runs.getArtifact(a.id))!], [1, 2, 3]);
  assert.equal(b.status, 'cancelled');
  assert.match(b.error!.message, /imported while queued/);
  assert.equal(b.baselineId, a.id, 'links follow the new ids');
});

test('runExport: 404 for no run, 409 while it has no artifact or when the artifact names no model graph, else the file', async () => {
  const f = deps();
  const d = doc();
  await enqueueRuns(f.deps, [d]);
  await assert.rejects(runExport(f.deps, 'run_000000000000000000000000', 'onnx'), problem('not-found'));
  await assert.rejects(runExport(f.deps, d.id, 'onnx'), (e) => problem('conflict')(e) && /has no artifact/.test((e as Error).message));
  const layers = [
    { name: 'fc1/kernel', shape: [4, 128], values: new Float32Array(512).fill(0.5) },
    { name: 'fc1/bias', shape: [128], values: new Float32Array(128) },
    { name: 'fc2/kernel', shape: [128, 10], values: new Float32Array(1280).fill(-0.25) },
    { name: 'fc2/bias', shape: [10], values: new Float32Array(10) },
  ];
  await f.runs.setArtifact(d.id, new Float32Quantizer({ kind: 'float32' }).pack(layers, { meta: { model: 'mlp', inputShape: [2, 2, 1], numClasses: 10 } }));
  const onnx = await runExport(f.deps, d.id, 'onnx');
  assert.deepEqual([onnx.mediaType, onnx.filename], ['application/onnx', `${d.id}.onnx`]);
  assert.ok(onnx.bytes.length > 4 * (512 + 1280));
  const tfjs = await runExport(f.deps, d.id, 'tfjs');
  assert.deepEqual([tfjs.mediaType, tfjs.filename, [...tfjs.bytes.subarray(0, 2)]], ['application/zip', `${d.id}.tfjs.zip`, [0x50, 0x4b]]);
  assert.equal((await runExport(f.deps, d.id, 'npz')).filename, `${d.id}.npz`);
  // An artifact whose meta names no known model: .npz needs no graph, the model formats do.
  await f.runs.setArtifact(d.id, new Float32Quantizer({ kind: 'float32' }).pack(layers, { meta: { model: 'mdl_unknown' } }));
  await assert.rejects(runExport(f.deps, d.id, 'onnx'), (e) => problem('conflict')(e) && /names no graph/.test((e as Error).message));
  assert.equal((await runExport(f.deps, d.id, 'npz')).mediaType, 'application/zip');
});

/** A stored model record as uploadModel writes it (graph and params do not matter to the submission checks). */
const storedModel = (id: string, inputShape: [number, number, number], classes = 10): StoredModel => ({
  id,
  name: 'm',
  layers: 1,
  params: 10,
  inputShape,
  classes,
  outputActivation: null,
  folded: [],
  bytes: 40,
  createdAt: new Date().toISOString(),
  graph: { input: { name: 'x', shape: inputShape }, nodes: [{ op: 'flatten', name: 'f', input: 'x' }], output: 'f' },
  paramSpecs: [],
});

test('runs on an uploaded model: it must exist and fit the dataset (422 naming both shapes), init pretrained needs one', async () => {
  const f = deps();
  await f.models.create(storedModel('mdl_gray', [28, 28, 1]), []);
  await f.models.create(storedModel('mdl_color', [32, 32, 3]), []);
  await f.models.create(storedModel('mdl_five', [28, 28, 1], 5), []);
  const rejects = async (cfg: object, detail: string) => {
    const d = doc({}, cfg);
    await assert.rejects(enqueueRuns(f.deps, [d]), (e) => problem('model-invalid')(e) && (e as HttpProblem).detail === detail);
    assert.equal(await f.runs.get(d.id), null, 'nothing stored');
  };
  await rejects({ model: 'mdl_nope' }, 'no model with id mdl_nope (upload it with POST /models)');
  await rejects({ model: 'mdl_color' }, 'model mdl_color takes inputs of shape [32, 32, 3]; dataset mnist has images of shape [28, 28, 1]');
  await rejects({ model: 'mdl_five', dataset: 'fashion-mnist' }, 'model mdl_five has 5 outputs; dataset fashion-mnist has 10 classes');
  await rejects({ model: 'cnn5', init: 'pretrained' }, 'init "pretrained" needs an uploaded model (mdl_…); cnn5 is built in and starts from random weights');
  const ok = doc({}, { model: 'mdl_gray' });
  await enqueueRuns(f.deps, [ok, doc({}, { model: 'mdl_color', dataset: 'cifar10', init: 'random' }), doc({}, { model: 'mlp', init: 'random' })]);
  assert.equal((await f.runs.get(ok.id))?.status, 'queued');
  // A user dataset's shape is known to the worker only: accepted here, checked there.
  await enqueueRuns(f.deps, [doc({}, { model: 'mdl_color', dataset: 'npz:faces' })]);
});

test('deleting a model: 409 while a queued or running run uses it, 404 when there is none, then gone', async () => {
  const f = deps();
  await f.models.create(storedModel('mdl_used', [28, 28, 1]), []);
  const run = doc({}, { model: 'mdl_used' });
  await enqueueRuns(f.deps, [run]);
  await assert.rejects(deleteModel(f.deps, 'mdl_used'), (e) => problem('conflict')(e) && (e as HttpProblem).detail.includes(run.id));
  await f.runs.update(run.id, { status: 'running' });
  await assert.rejects(deleteModel(f.deps, 'mdl_used'), problem('conflict'));
  await f.runs.update(run.id, { status: 'completed' });
  await deleteModel(f.deps, 'mdl_used');
  assert.equal(await f.models.get('mdl_used'), null);
  await assert.rejects(deleteModel(f.deps, 'mdl_used'), problem('not-found'));
});
