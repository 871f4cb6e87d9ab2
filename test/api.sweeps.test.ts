import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE, RunDocument, PresetList, SweepAccepted, SweepDocument, SweepList } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

const env = testEnv('api-sweeps');
const app = await buildApp({ env, logger: false });
const { runs, queue } = app.ql;
after(async () => {
  await app.close();
  await env.cleanup();
});

const postSweep = (payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url: '/sweeps', payload: payload as object, headers });
const base = { dataset: 'mnist', model: 'mlp', training: { epochs: 2 } };
const six = { kind: 'fixed', bits: [2, 4, 8], rounding: ['nearest', 'stochastic'] };
const four = { kind: 'dictionary', bits: [1, 2, 3, 4] };

test('POST /sweeps: six + four, both phases, two seeds -> 40 runs + 2 baselines, queued with baselines first', async () => {
  const res = await postSweep({ name: 'grid', base, vary: { representation: [six, four], phase: ['training', 'inference'], seeds: [1, 2] } });
  assert.equal(res.statusCode, 202);
  const acc = SweepAccepted.parse(res.json());
  assert.equal(acc.runs.length, 10 * 2 * 2 + 2);
  assert.deepEqual(Object.keys(acc.baselines).sort(), ['1', '2']);
  assert.equal(acc.links.self, `/sweeps/${acc.id}`);

  const docs = (await runs.getMany(acc.runs)).map((d) => RunDocument.parse(d));
  assert.equal(docs.length, 42);
  for (const d of docs) {
    assert.equal(d.sweepId, acc.id);
    const seed = String(d.config.training.seed);
    const isBaseline = acc.baselines[seed] === d.id;
    assert.equal(d.baselineId, isBaseline ? null : acc.baselines[seed], 'each run points at its seed’s baseline');
    if (isBaseline) {
      assert.deepEqual(d.config.representation, { kind: 'float32' });
      assert.equal(d.config.phase, 'training');
      assert.equal(d.series, 'float32/training');
    }
    assert.equal(d.config.training.epochs, 2);
    assert.equal(d.config.dataset, 'mnist');
  }
  assert.equal(new Set(docs.map((d) => d.series)).size, 1 + 2 * 2 + 1 * 2); // float32 + fixed x2 roundings x2 phases + dictionary x2 phases

  const jobs = await Promise.all(acc.runs.map((id) => queue.getJob(id)));
  const baseJob = jobs.find((j) => j?.id === acc.baselines['1']);
  const others = jobs.filter((j) => j && !Object.values(acc.baselines).includes(j.id as string));
  assert.equal(baseJob?.opts.priority, 49);
  assert.ok(others.every((j) => j?.opts.priority === 50), 'baselines have the lower number: BullMQ runs them first');
  for (const j of others) {
    const doc = docs.find((d) => d.id === j?.id) as RunDocument;
    // inference-phase jobs carry the baseline whose weights the worker reuses
    assert.equal(j?.data.baselineId, doc.config.phase === 'inference' ? doc.baselineId : null);
  }
  const counts = await queue.getJobCounts('prioritized');
  assert.ok(counts.prioritized >= 42);
});

test('GET /sweeps/:id: relative accuracy at read time and the summary per series and bits', async () => {
  const acc = SweepAccepted.parse((await postSweep({ name: 'summary', base, vary: { representation: [{ kind: 'fixed', bits: [4, 8] }], seeds: [1, 2] } })).json());
  const all = await runs.getMany(acc.runs);
  const fixed8 = all.filter((d) => d.config.representation.kind === 'fixed' && d.config.representation.bits === 8);
  // finish the runs before their baselines: the order must not matter
  for (const [i, d] of fixed8.entries()) {
    await runs.update(d.id, { status: 'completed', metrics: { ...d.metrics, testAccuracy: 0.8 + i * 0.02, weightBytes: { float32: 4000, compact: 1000 }, compressionRatio: 4 } });
  }
  let doc = SweepDocument.parse((await app.inject({ method: 'GET', url: `/sweeps/${acc.id}` })).json());
  assert.equal(doc.status, 'running');
  assert.ok(doc.runs.every((r) => r.metrics.relativeAccuracy === undefined), 'no baseline yet, no relative accuracy');
  await runs.update(acc.baselines['1'], { status: 'completed', metrics: { testAccuracy: 0.9, trainLoss: 0.3, durationMs: 1, backend: 'cpu' } });
  await runs.update(acc.baselines['2'], { status: 'completed', metrics: { testAccuracy: 0.8, trainLoss: 0.3, durationMs: 1, backend: 'cpu' } });
  doc = SweepDocument.parse((await app.inject({ method: 'GET', url: `/sweeps/${acc.id}` })).json());
  const rel = (d: RunDocument) => d.metrics.relativeAccuracy;
  for (const d of doc.runs.filter((r) => r.status === 'completed' && r.config.representation.kind === 'fixed')) {
    const b = d.config.training.seed === 1 ? 0.9 : 0.8;
    assert.ok(Math.abs((rel(d) as number) - (d.metrics.testAccuracy as number) / b) < 1e-12);
    // the single run document agrees
    const one = (await app.inject({ method: 'GET', url: `/experiments/${d.id}` })).json();
    assert.equal(one.metrics.relativeAccuracy, rel(d));
  }
  const row8 = doc.summary.find((r) => r.bits === 8 && r.series === 'fixed/maxabs/nearest/training');
  assert.equal(row8?.n, 2);
  assert.equal(row8?.runs, 2);
  const expected = fixed8.map((d, i) => (0.8 + i * 0.02) / (d.config.training.seed === 1 ? 0.9 : 0.8));
  assert.ok(Math.abs((row8?.relativeAccuracy.mean as number) - (expected[0] + expected[1]) / 2) < 1e-12);
  assert.equal(row8?.compressionRatio, 4);
  assert.equal(row8?.compactBytes, 1000);
  const baseRow = doc.summary.find((r) => r.series === 'float32/training');
  assert.deepEqual([baseRow?.bits, baseRow?.n, baseRow?.relativeAccuracy.mean], [32, 2, 1]);
  const row4 = doc.summary.find((r) => r.bits === 4);
  assert.deepEqual([row4?.n, row4?.runs, row4?.testAccuracy.mean], [0, 2, null]);
  assert.deepEqual(doc.counts, { queued: 2, running: 0, completed: 4, failed: 0, cancelled: 0, stopped: 0 });

  const filtered = (await app.inject({ method: 'GET', url: `/experiments?sweep=${acc.id}&status=completed` })).json();
  assert.equal(filtered.items.length, 4);
  assert.ok(filtered.items.every((d: RunDocument) => d.metrics.relativeAccuracy !== undefined));
});

test('preset paper: full is 378 runs; small with overrides; GET /presets lists every preset at both budgets', async () => {
  const res0 = await app.inject({ method: 'GET', url: '/presets' });
  const presets = PresetList.parse(res0.json());
  // paper: 303 and 99 float32-master runs, plus the compact-master series (25 and 12 a seed). sensitivity, per seed:
  // the baseline, 6 widths x 2 phases for every layer together, 6 widths x 5 layers one at a time (inference).
  assert.deepEqual(
    presets.items.map((p) => [p.name, p.budget, p.runs]),
    [
      ['paper', 'full', 378],
      ['paper', 'small', 135],
      ['sensitivity', 'full', 3 * (1 + 12 + 30)],
      ['sensitivity', 'small', 3 * (1 + 12 + 30)],
    ],
  );
  assert.match(presets.items[0].epochBudget, /10 epochs/);
  assert.equal(presets.items[0].base.training.momentum, 0.9);
  const sensitivity = presets.items[3];
  assert.equal(sensitivity.base.training.trainLimit, 6000);
  assert.deepEqual(sensitivity.entryPhases, [['training', 'inference'], ...Array.from({ length: 5 }, () => ['inference'])]);
  assert.deepEqual(sensitivity.vary.representation[1], { kind: 'fixed', range: 'pow2', rounding: 'nearest', bits: [2, 3, 4, 5, 6, 8], bitsPerLayer: { conv2: 32, conv3: 32, fc1: 32, fc2: 32 } });
  assert.match(sensitivity.description, /one layer at a time/);
  // What the list says a preset runs is what posting it queues.
  const posted = await postSweep({ preset: 'sensitivity', budget: 'small', seeds: [1], base: { dataset: 'mnist' } });
  assert.equal(posted.statusCode, 202, posted.body);
  assert.equal(SweepAccepted.parse(posted.json()).runs.length, sensitivity.runs / 3);

  const res = await postSweep({ preset: 'paper', budget: 'small', seeds: [1], base: { dataset: 'mnist', training: { epochs: 1 } } });
  assert.equal(res.statusCode, 202);
  const acc = SweepAccepted.parse(res.json());
  assert.equal(acc.runs.length, 45);
  const doc = SweepDocument.parse((await app.inject({ method: 'GET', url: `/sweeps/${acc.id}` })).json());
  assert.equal(doc.preset, 'paper');
  assert.equal(doc.budget, 'small');
  assert.ok(doc.runs.every((r) => r.config.dataset === 'mnist' && r.config.model === 'cnn5' && r.config.training.epochs === 1 && r.config.training.trainLimit === 6000));

  const list = SweepList.parse((await app.inject({ method: 'GET', url: '/sweeps?limit=2' })).json());
  assert.equal(list.items[0].id, acc.id, 'newest first');
  assert.equal(list.items[0].counts.queued, 45);
  assert.equal(doc.runs.filter((r) => r.series.endsWith('/training/compact')).length, 12);
  assert.equal(list.items[0].status, 'queued');
  assert.ok(list.nextCursor);
});

test('POST /sweeps with an Idempotency-Key replays and creates nothing the second time', async () => {
  const payload = { name: 'idem', base, vary: { representation: [four] } };
  const before = await runs.redis.zcard(runs.keys.runs);
  const a = await postSweep(payload, { 'idempotency-key': 'sweep-1' });
  const b = await postSweep(payload, { 'idempotency-key': 'sweep-1' });
  assert.equal(a.statusCode, 202);
  assert.deepEqual(b.json(), a.json());
  assert.equal(await runs.redis.zcard(runs.keys.runs), before + 5);
});

test('POST /sweeps/:id/cancel cancels queued runs and flags running ones', async () => {
  const acc = SweepAccepted.parse((await postSweep({ name: 'cancel', base, vary: { representation: [four] } })).json());
  await runs.update(acc.runs[0], { status: 'running' });
  await runs.update(acc.runs[1], { status: 'completed' });
  const res = await app.inject({ method: 'POST', url: `/sweeps/${acc.id}/cancel` });
  assert.equal(res.statusCode, 202);
  assert.deepEqual(res.json(), { id: acc.id, cancelled: 3, cancelRequested: 1 });
  const docs = await runs.getMany(acc.runs);
  assert.deepEqual(docs.map((d) => d.status), ['running', 'completed', 'cancelled', 'cancelled', 'cancelled']);
  for (const id of acc.runs.slice(2)) assert.equal(await queue.getJob(id), undefined);
  assert.equal(await runs.isCancelRequested(acc.runs[0]), true);
  assert.equal((await app.inject({ method: 'GET', url: '/sweeps/swp_doesnotexist' })).statusCode, 404);
});

test('an invalid combination or an oversized sweep is refused before anything is queued', async () => {
  const before = await runs.redis.zcard(runs.keys.runs);
  const jobsBefore = await queue.count();
  const bad = await postSweep({ name: 'bad', base, vary: { representation: [six, { kind: 'dictionary', bits: [4, 12] }] } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().type, `${PROBLEM_BASE}validation`);
  assert.match(JSON.stringify(bad.json().issues), /\\"bits\\":12/);
  const big = await postSweep({ name: 'big', base, vary: { representation: [{ kind: 'dictionary', bits: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], refine: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], init: ['uniform', 'nonuniform'], scope: ['global', 'per-layer'] }], phase: ['training', 'inference'], seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] } });
  assert.equal(big.statusCode, 400);
  assert.equal(big.json().type, `${PROBLEM_BASE}sweep-too-large`);
  const preset = await postSweep({ preset: 'paper', budget: 'huge' });
  assert.equal(preset.statusCode, 400);
  assert.deepEqual(preset.json().issues[0].path, ['budget']);
  assert.equal(await runs.redis.zcard(runs.keys.runs), before);
  assert.equal(await queue.count(), jobsBefore);
});

test('GET /experiments?sweep= pages through exactly the sweep’s runs, newest first', async () => {
  const acc = SweepAccepted.parse((await postSweep({ name: 'pages', base, vary: { representation: [six, four] } })).json());
  await app.inject({ method: 'POST', url: '/experiments', payload: base }); // not in the sweep
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: { statusCode: number; json(): unknown } = await app.inject({ method: 'GET', url: `/experiments?sweep=${acc.id}&limit=4${cursor ? `&cursor=${cursor}` : ''}` });
    assert.equal(res.statusCode, 200);
    const body = res.json() as { items: RunDocument[]; nextCursor: string | null };
    seen.push(...body.items.map((d) => d.id));
    cursor = body.nextCursor;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.deepEqual(seen, [...acc.runs].reverse());
  const fixedOnly = (await app.inject({ method: 'GET', url: `/experiments?sweep=${acc.id}&kind=fixed&limit=100` })).json();
  assert.equal(fixedOnly.items.length, 6);
  const stranger = await app.inject({ method: 'GET', url: `/experiments?sweep=${acc.id}&cursor=${Buffer.from('run_notinsweep').toString('base64url')}` });
  assert.equal(stranger.statusCode, 400);
});
