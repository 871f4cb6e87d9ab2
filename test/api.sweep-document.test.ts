// A finished sweep's GET /sweeps/:id document is rendered once and kept (SweepStore); every write that changes what it
// shows must drop it: each write path to one of its runs (update, epoch, delete, retry, create/import into the sweep)
// and to its record (run list edits, delete), and a copy rendered before such a write is never stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentConfig, newId, newRunDocument, type RunDocument, type RunStatus } from '@quantlab/shared';
import { readPaths } from './helpers/read-paths.ts';

// The raw read path (server.ts) keeps the rendered copy; the validated app renders every time and is the reference.
const { raw, checked } = await readPaths('api-sweep-doc');
const { runs, sweeps, redis } = checked.ql;

function finished(status: RunStatus, acc: number, extra: Partial<RunDocument> = {}): RunDocument {
  const doc = newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', name: extra.name ?? 'r' }), { sweepId: extra.sweepId ?? null, baselineId: extra.baselineId ?? null });
  const error = status === 'failed' ? { message: 'boom' } : null;
  return { ...doc, status, error, startedAt: doc.createdAt, finishedAt: new Date().toISOString(), metrics: { ...doc.metrics, testAccuracy: acc }, epochs: [{ epoch: 1, trainLoss: 1, trainAccuracy: 0.5, testAccuracy: acc, durationMs: 1, imagesPerSec: 1 }] };
}

/** A finished sweep: a baseline (0.8), a run against it (0.6) and a failed run. */
async function finishedSweep(): Promise<{ id: string; base: RunDocument; run: RunDocument; failed: RunDocument }> {
  const id = newId('swp');
  const base = finished('completed', 0.8, { sweepId: id, name: 'base' });
  const run = finished('completed', 0.6, { sweepId: id, baselineId: base.id, name: 'run' });
  const failed = finished('failed', 0.1, { sweepId: id, baselineId: base.id, name: 'failed' });
  await sweeps.create({ id, name: 'doc', createdAt: new Date().toISOString(), preset: null, budget: null, request: {}, runIds: [base.id, run.id, failed.id], baselines: { '1': base.id } });
  await runs.importMany([{ doc: base }, { doc: run }, { doc: failed }]);
  return { id, base, run, failed };
}

const docKey = (id: string) => sweeps.keys.sweepDocument(id);
const rev = async (id: string) => redis.hget(sweeps.keys.sweep(id), 'rev');

interface SweepDoc {
  status: string;
  counts: Record<string, number>;
  runs: RunDocument[];
  baselines: Record<string, string>;
}

/** GET /sweeps/:id from both apps: the same answer. */
async function read(id: string): Promise<{ status: number; body: SweepDoc }> {
  const [a, b] = await Promise.all([raw.inject({ method: 'GET', url: `/sweeps/${id}` }), checked.inject({ method: 'GET', url: `/sweeps/${id}` })]);
  assert.equal(a.statusCode, b.statusCode);
  assert.deepEqual(a.json(), b.json(), 'the raw (cached) and the validated sweep documents differ');
  return { status: a.statusCode, body: a.json() as SweepDoc };
}

/** Reads through the raw app until the copy is kept (the fill is not waited for by the read). */
async function cached(id: string): Promise<string> {
  const body = (await raw.inject({ method: 'GET', url: `/sweeps/${id}` })).body;
  for (let i = 0; i < 100 && !(await redis.exists(docKey(id))); i++) await new Promise((r) => setTimeout(r, 10));
  const kept = await redis.get(docKey(id));
  assert.equal(kept, body, 'the finished sweep’s document is kept exactly as sent');
  // And the next read is that copy.
  assert.equal((await raw.inject({ method: 'GET', url: `/sweeps/${id}` })).body, kept);
  return kept!;
}

async function assertDropped(id: string, revBefore: string | null, what: string): Promise<void> {
  assert.equal(await redis.exists(docKey(id)), 0, `${what} drops the kept document`);
  assert.notEqual(await rev(id), revBefore, `${what} moves the sweep's rev on`);
}

test('a finished sweep is rendered once and read as one GET; unfinished sweeps are not kept', async () => {
  const s = await finishedSweep();
  const kept = JSON.parse(await cached(s.id)) as SweepDoc;
  assert.equal(kept.status, 'failed');
  assert.deepEqual(kept.runs.map((r) => r.metrics.relativeAccuracy ?? null), [1, 0.6 / 0.8, null]);
  // A sweep with a queued run is read from its runs every time.
  const id = newId('swp');
  const done = finished('completed', 0.7, { sweepId: id });
  const queued = newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' }), { sweepId: id });
  await sweeps.create({ id, name: 'open', createdAt: new Date().toISOString(), preset: null, budget: null, request: {}, runIds: [done.id, queued.id], baselines: {} });
  await runs.importMany([{ doc: done }, { doc: queued }]);
  assert.equal((await read(id)).body.status, 'running');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await redis.exists(docKey(id)), 0, 'an unfinished sweep is not kept');
  // The record's rev is bookkeeping, not part of the record.
  assert.equal('rev' in (await sweeps.get(id))!, false);
});

test('a run update, a cancel request, an epoch and a status change each drop the kept document', async () => {
  const s = await finishedSweep();
  await cached(s.id);
  let before = await rev(s.id);
  await runs.update(s.run.id, { name: 'renamed' });
  await assertDropped(s.id, before, 'RunStore.update');
  assert.equal((await read(s.id)).body.runs[1].name, 'renamed');

  // The baseline's accuracy changes every relative accuracy of the sweep.
  await cached(s.id);
  before = await rev(s.id);
  await runs.update(s.base.id, { metrics: { ...s.base.metrics, testAccuracy: 0.5 } });
  await assertDropped(s.id, before, 'an update of the baseline');
  assert.equal((await read(s.id)).body.runs[1].metrics.relativeAccuracy, 0.6 / 0.5);

  await cached(s.id);
  before = await rev(s.id);
  await runs.requestCancel(s.failed.id);
  await assertDropped(s.id, before, 'RunStore.requestCancel');

  await cached(s.id);
  before = await rev(s.id);
  await runs.addEpoch(s.run.id, { epoch: 2, trainLoss: 0.5, trainAccuracy: 0.7, testAccuracy: 0.65, durationMs: 1, imagesPerSec: 1 }, 2);
  await assertDropped(s.id, before, 'RunStore.addEpoch');
  assert.equal((await read(s.id)).body.runs[1].epochs.length, 2);

  await cached(s.id);
  before = await rev(s.id);
  await runs.failIfUnfinished(s.run.id, 'no-op: the run is finished');
  assert.equal(await redis.exists(docKey(s.id)), 1, 'a write that writes nothing keeps the copy');
  assert.equal(await rev(s.id), before);
  await runs.update(s.failed.id, { status: 'running' });
  await assertDropped(s.id, before, 'a status change');
  assert.equal((await read(s.id)).body.status, 'running');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await redis.exists(docKey(s.id)), 0, 'the sweep is unfinished again: not kept');
});

test('DELETE of one of its runs drops the kept document and the run leaves it', async () => {
  const s = await finishedSweep();
  await cached(s.id);
  const before = await rev(s.id);
  assert.equal((await raw.inject({ method: 'DELETE', url: `/experiments/${s.failed.id}` })).statusCode, 204);
  await assertDropped(s.id, before, 'DELETE /experiments/:id');
  const doc = (await read(s.id)).body;
  assert.deepEqual(doc.runs.map((r) => r.id), [s.base.id, s.run.id]);
  assert.equal(doc.status, 'completed');
  // RunStore.delete alone (the sweep record not edited yet) drops it too.
  await cached(s.id);
  const again = await rev(s.id);
  await runs.delete(s.run.id);
  await assertDropped(s.id, again, 'RunStore.delete');
});

test('a retry (new attempt created, sweep edited) drops the kept document; the new attempt shows', async () => {
  const s = await finishedSweep();
  await cached(s.id);
  const before = await rev(s.id);
  const r = await raw.inject({ method: 'POST', url: `/experiments/${s.failed.id}/retry` });
  assert.equal(r.statusCode, 202, r.body);
  await assertDropped(s.id, before, 'POST /experiments/:id/retry');
  const doc = (await read(s.id)).body;
  assert.equal(doc.runs[2].id, (r.json() as { id: string }).id);
  assert.equal(doc.runs[2].status, 'queued');
  assert.equal(doc.status, 'running');
});

test('a run created or imported into the sweep, and the sweep store’s own writes, drop the kept document', async () => {
  const s = await finishedSweep();
  await cached(s.id);
  let before = await rev(s.id);
  const extra = finished('completed', 0.7, { sweepId: s.id });
  await runs.importMany([{ doc: extra }]);
  await assertDropped(s.id, before, 'RunStore.importMany of a run of the sweep');

  await cached(s.id);
  before = await rev(s.id);
  await runs.createMany([newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' }), { sweepId: s.id })]);
  await assertDropped(s.id, before, 'RunStore.createMany of a run of the sweep');

  await cached(s.id);
  before = await rev(s.id);
  await sweeps.editRuns(s.id, [['', extra.id]]);
  await assertDropped(s.id, before, 'SweepStore.editRuns');
  assert.equal((await read(s.id)).body.runs.length, 4);

  await cached(s.id);
  await sweeps.delete(s.id);
  assert.equal(await redis.exists(docKey(s.id)), 0, 'SweepStore.delete drops it');
  assert.equal((await read(s.id)).status, 404);
});

test('a copy rendered before a write is refused, and a sweep whose baseline lies elsewhere is not kept', async () => {
  const s = await finishedSweep();
  const first = await sweeps.readDocument(s.id);
  assert.ok(first && first.json === null);
  await runs.update(s.run.id, { name: 'moved on' });
  assert.equal(await sweeps.cacheDocument(s.id, first.rev, '{"stale":true}'), false);
  assert.equal(await redis.exists(docKey(s.id)), 0);
  const second = await sweeps.readDocument(s.id);
  assert.ok(second && second.json === null);
  assert.equal(await sweeps.cacheDocument(s.id, second.rev, '{"fresh":true}'), true);
  assert.deepEqual(await sweeps.readDocument(s.id), { json: '{"fresh":true}' });
  await sweeps.delete(s.id);
  assert.equal(await sweeps.cacheDocument(s.id, second.rev, '{"late":true}'), false, 'no copy of a deleted sweep');
  assert.equal(await redis.exists(docKey(s.id)), 0);

  // A baseline outside the sweep can change without touching it: such a sweep is rendered every time.
  const outside = finished('completed', 0.9);
  const id = newId('swp');
  const run = finished('completed', 0.45, { sweepId: id, baselineId: outside.id });
  await runs.importMany([{ doc: outside }, { doc: run }]);
  await sweeps.create({ id, name: 'outside', createdAt: new Date().toISOString(), preset: null, budget: null, request: {}, runIds: [run.id], baselines: {} });
  assert.equal((await read(id)).body.runs[0].metrics.relativeAccuracy, 0.5);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await redis.exists(docKey(id)), 0);
  await runs.update(outside.id, { metrics: { ...outside.metrics, testAccuracy: 0.6 } });
  assert.equal((await read(id)).body.runs[0].metrics.relativeAccuracy, 0.75);
});
