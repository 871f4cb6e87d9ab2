// Imports that used to poison the store (issue 14, findings 3, 4 and 7): every import limit at and over its value,
// ids that name BullMQ keys, dates that are not dates, duplicate ids, two ids=same imports at once, and the
// `imported` mark. A refused import stores nothing.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE, SweepExport, parseEnv, type RunDocument } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { applyRetention } from '../services/api/src/services/lifecycle/retention.ts';
import { keysUnder, testEnv } from './helpers/redis.ts';

const LIMITS = { IMPORT_MAX_RUNS: '3', IMPORT_MAX_EPOCHS_PER_RUN: '2', IMPORT_MAX_STRING_LENGTH: '300', ARTIFACT_MAX_BYTES: '1000', IMPORT_MAX_BYTES: '200000' };
const env = testEnv('import-hardening', LIMITS);
const app = await buildApp({ env, logger: false });
after(async () => {
  await app.close();
  await env.cleanup();
});

let base: SweepExport;
before(async () => {
  // A real export: a sweep of 3 runs (baseline + 2), never trained (they arrive cancelled, which is fine here).
  const s = await app.inject({ method: 'POST', url: '/sweeps', payload: { name: 'src', base: { dataset: 'mnist', model: 'mlp' }, vary: { representation: [{ kind: 'fixed', bits: [4, 8] }] } } });
  assert.equal(s.statusCode, 202, s.body);
  const exp = await app.inject({ method: 'GET', url: `/sweeps/${s.json().id}/export` });
  base = SweepExport.parse(exp.json());
  assert.equal(base.runs.length, 3);
});

const clone = (): SweepExport => structuredClone(base);
const epoch = (n: number) => ({ epoch: n, trainLoss: 0.5, trainAccuracy: 0.9, testAccuracy: 0.9, durationMs: 10, imagesPerSec: 100 });
const post = (data: unknown, ids: 'new' | 'same' = 'new') => app.inject({ method: 'POST', url: `/import?ids=${ids}`, payload: data as object });
const runCount = () => app.ql.runs.redis.zcard(app.ql.runs.keys.runs);

async function refused(data: unknown, status: number, type: string, says: RegExp, ids: 'new' | 'same' = 'new') {
  const before = await runCount();
  const sweeps = await app.ql.runs.redis.zcard(app.ql.runs.keys.sweeps);
  const r = await post(data, ids);
  assert.equal(r.statusCode, status, r.body.slice(0, 300));
  assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
  assert.equal(r.json().type, `${PROBLEM_BASE}${type}`);
  assert.match(r.json().detail, says);
  assert.equal(await runCount(), before, 'no run stored');
  assert.equal(await app.ql.runs.redis.zcard(app.ql.runs.keys.sweeps), sweeps, 'no sweep stored');
}

test('defaults of the import limits', () => {
  const d = parseEnv({});
  assert.deepEqual([d.IMPORT_MAX_BYTES, d.IMPORT_MAX_RUNS, d.IMPORT_MAX_EPOCHS_PER_RUN, d.IMPORT_MAX_STRING_LENGTH, d.ARTIFACT_MAX_BYTES], [128 * 1024 * 1024, 2000, 200, 4096, 32 * 1024 * 1024]);
});

test('each import limit: at the limit accepted, one over refused with 413 and nothing stored', async () => {
  // Runs per file: 3 is the limit.
  assert.equal((await post(clone())).statusCode, 201);
  const four = clone();
  four.runs.push({ ...four.runs[2], id: 'run_extra_000001' });
  await refused(four, 413, 'payload-too-large', /IMPORT_MAX_RUNS/);

  // Epochs per run: 2 is the limit.
  const two = clone();
  two.runs[0].epochs = [epoch(1), epoch(2)];
  assert.equal((await post(two)).statusCode, 201);
  const three = clone();
  three.runs[0].epochs = [epoch(1), epoch(2), epoch(3)];
  await refused(three, 413, 'payload-too-large', /IMPORT_MAX_EPOCHS_PER_RUN/);

  // Any string: 300 characters is the limit (an error message here).
  const s300 = clone();
  s300.runs[1].error = { message: 'e'.repeat(300) };
  assert.equal((await post(s300)).statusCode, 201);
  const s301 = clone();
  s301.runs[1].error = { message: 'e'.repeat(301) };
  await refused(s301, 413, 'payload-too-large', /IMPORT_MAX_STRING_LENGTH/);

  // Artifact bytes: 1000 is the limit.
  const a1000 = clone();
  a1000.artifacts = { [a1000.runs[0].id]: Buffer.alloc(1000, 7).toString('base64') };
  const ok = await post(a1000);
  assert.equal(ok.statusCode, 201);
  const stored = await app.ql.runs.getArtifact(ok.json().ids[a1000.runs[0].id]);
  assert.equal(stored?.length, 1000);
  const a1001 = clone();
  a1001.artifacts = { [a1001.runs[0].id]: Buffer.alloc(1001, 7).toString('base64') };
  await refused(a1001, 413, 'payload-too-large', /ARTIFACT_MAX_BYTES/);

  // The whole body: IMPORT_MAX_BYTES.
  const big = clone();
  big.sweep.name = 'x'.repeat(200);
  (big as unknown as { padding: string }).padding = 'p'.repeat(200_001);
  await refused(big, 413, 'payload-too-large', /./);
});

test('a createdAt that is not a date, or duplicate run ids, are refused with 400 and nothing stored', async () => {
  const badDate = clone();
  badDate.runs[1].createdAt = 'yesterday';
  await refused(badDate, 400, 'validation', /createdAt/);
  const dup = clone();
  dup.runs[2] = { ...dup.runs[2], id: dup.runs[1].id };
  await refused(dup, 400, 'validation', /appears twice/);
});

test('ids that would name BullMQ keys cannot be kept (ids=same); with ids=new they get fresh ids; toString is just an id', async () => {
  for (const id of ['events', 'marker', 'prioritized', 'toString']) {
    const data = clone();
    const old = data.runs[0].id;
    data.runs[0].id = id;
    data.sweep.runIds = data.sweep.runIds.map((r) => (r === old ? id : r));
    data.artifacts = { [id]: Buffer.from('abc').toString('base64') };
    await refused(data, 400, 'validation', /ids=same keeps only ids of the form run_/, 'same');
    const fresh = await post(data, 'new');
    assert.equal(fresh.statusCode, 201, fresh.body);
    const newId = fresh.json().ids[id] as string;
    assert.match(newId, /^run_/);
    assert.equal((await app.ql.runs.getArtifact(newId))?.toString(), 'abc');
  }
});

test('a run stored under such an id by an earlier version stays readable, deletable and does not stop retention', async () => {
  const events = `${env.KEY_PREFIX}:bull:${env.QUEUE_NAME}:events`;
  await app.ql.queue.add('run', { runId: 'run_probe_0000001', config: base.runs[0].config, baselineId: null }, { jobId: 'run_probe_0000001' });
  assert.equal(await app.ql.runs.redis.type(events), 'stream', 'BullMQ keeps its event stream here');
  const old = '2020-01-01T00:00:00.000Z';
  for (const id of ['events', 'marker']) {
    const doc: RunDocument = { ...base.runs[0], id, sweepId: null, baselineId: null, retryOf: null, status: 'completed', createdAt: old, finishedAt: old, config: { ...base.runs[0].config, keep: false } };
    await app.ql.runs.create(doc);
  }
  assert.equal((await app.inject({ method: 'GET', url: '/experiments/events' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'POST', url: '/experiments/events/cancel' })).statusCode, 409);
  const del = await app.inject({ method: 'DELETE', url: '/experiments/events' });
  assert.equal(del.statusCode, 204, del.body);
  assert.equal(await app.ql.runs.redis.type(events), 'stream', 'the queue event stream is untouched');
  const r = await applyRetention(app.ql, { days: 1 });
  assert.ok(r.removed.includes('marker'), `retention went through: ${JSON.stringify(r)}`);
  assert.deepEqual((await keysUnder(env.KEY_PREFIX)).filter((k) => /:run:(events|marker)/.test(k)), []);
});

test('two ids=same imports of one file at once: one is stored whole, the other gets 409; runs carry the imported mark', async () => {
  const data = clone();
  const map = new Map<string, string>();
  const fresh = (id: string) => map.get(id) ?? (map.set(id, `run_same_${map.size}_${Date.now().toString(36)}`), map.get(id)!);
  for (const run of data.runs) run.id = fresh(run.id);
  for (const run of data.runs) run.baselineId = run.baselineId ? (map.get(run.baselineId) ?? null) : null;
  data.sweep.runIds = data.sweep.runIds.map(fresh);
  data.sweep.baselines = Object.fromEntries(Object.entries(data.sweep.baselines).map(([k, v]) => [k, fresh(v)]));
  data.sweep.id = `swp_same_${Date.now().toString(36)}`;
  const [a, b] = await Promise.all([post(data, 'same'), post(data, 'same')]);
  assert.deepEqual([a.statusCode, b.statusCode].sort(), [201, 409]);
  const sweep = await app.inject({ method: 'GET', url: `/sweeps/${data.sweep.id}` });
  assert.equal(sweep.statusCode, 200);
  assert.equal(sweep.json().runs.length, 3, 'every run once');
  const run = (await app.inject({ method: 'GET', url: `/experiments/${data.runs[0].id}` })).json() as RunDocument;
  assert.equal(run.imported?.originalId, data.runs[0].id);
  assert.equal(run.imported?.exportedAt, data.exportedAt);
  assert.ok(Date.parse(run.imported!.at) > Date.parse(data.exportedAt) - 1);
  const listed = (await app.inject({ method: 'GET', url: `/experiments?sweep=${data.sweep.id}` })).json().items as RunDocument[];
  assert.equal(listed.length, 3, 'indexed: listed by sweep');
});
