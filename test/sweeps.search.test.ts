import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SweepPlanError, SweepRequest, planSweep, type PlannedRun } from '@quantlab/shared';

const base = { dataset: 'mnist', model: 'mlp', training: { epochs: 3 } };
const req = (body: Record<string, unknown>) => SweepRequest.parse({ name: 's', base, ...body });
const bits = (r: PlannedRun) => ('bits' in r.config.representation ? r.config.representation.bits : 32);

test('a grid over dotted field paths: the product with representations and seeds, a baseline per setting and seed', () => {
  const plan = planSweep(req({ vary: { representation: [{ kind: 'fixed', bits: [2, 8] }], 'training.learningRate': [0.01, 0.1], model: ['mlp', 'cnn5'], seeds: [1, 2] } }));
  const runs = plan.runs.filter((r) => !r.isBaseline);
  const baselines = plan.runs.filter((r) => r.isBaseline);
  assert.equal(runs.length, 2 * 2 * 2 * 2);
  assert.equal(baselines.length, 2 * 2 * 2, 'one per learning rate, model and seed');
  assert.ok(plan.runs.slice(0, baselines.length).every((r) => r.isBaseline), 'baselines first');
  for (const r of runs) {
    const b = plan.runs[plan.baselineOf.get(r.baselineKey)!];
    assert.equal(b.config.training.learningRate, r.config.training.learningRate);
    assert.equal(b.config.model, r.config.model);
    assert.equal(b.seed, r.seed);
    assert.equal(b.config.representation.kind, 'float32');
  }
  assert.ok(plan.baselineOf.has('1 model=mlp learningRate=0.01'), [...plan.baselineOf.keys()].join(' | '));
  assert.match(runs[0].config.name, /^s: fixed:2 training model=mlp learningRate=0\.01 seed 1$/);
  // Without varied fields, the baselines map is keyed by seed as before.
  assert.deepEqual([...planSweep(req({ vary: { representation: [{ kind: 'fixed', bits: [2, 8] }], seeds: [1, 2] } })).baselineOf.keys()], ['1', '2']);
});

test('representation.* paths override the field in every representation; a value its kind refuses names the path', () => {
  const plan = planSweep(req({ vary: { representation: [{ kind: 'fixed', bits: 4 }, { kind: 'dictionary', bits: 4 }], 'representation.bits': [2, 3] } }));
  assert.deepEqual(plan.runs.filter((r) => !r.isBaseline).map((r) => `${r.config.representation.kind}:${bits(r)}`), ['fixed:2', 'fixed:3', 'dictionary:2', 'dictionary:3']);
  assert.equal(plan.runs.filter((r) => r.isBaseline).length, 1, 'representation fields do not multiply baselines');
  assert.throws(
    () => planSweep(req({ base: { ...base, representation: { kind: 'dictionary', bits: 2 } }, vary: { 'representation.bits': [2, 12] } })),
    (e: unknown) => e instanceof SweepPlanError && e.issues[0].path.join('.') === 'vary.representation.bits' && /2\^10/.test(e.issues[0].message),
  );
});

const randomReq = (samples: number, seed = 7) =>
  req({
    base: { ...base, representation: { kind: 'fixed', bits: 8 } },
    vary: { 'training.learningRate': { min: 1e-4, max: 1, log: true }, 'representation.bits': { min: 2, max: 8 }, 'training.momentum': [0, 0.9] },
    search: { kind: 'random', samples, seed },
  });

test('a random search draws the same points for the same seed; ranges stay in bounds, integer fields draw integers', () => {
  const a = planSweep(randomReq(12));
  const b = planSweep(randomReq(12));
  const c = planSweep(randomReq(12, 8));
  const key = (p: typeof a) => p.runs.map((r) => `${r.config.training.learningRate}/${bits(r)}/${r.config.training.momentum}`).join(',');
  assert.equal(key(a), key(b));
  assert.notEqual(key(a), key(c));
  const runs = a.runs.filter((r) => !r.isBaseline);
  assert.equal(runs.length, 12);
  for (const r of runs) {
    assert.ok(r.config.training.learningRate >= 1e-4 && r.config.training.learningRate <= 1, String(r.config.training.learningRate));
    assert.ok(Number.isInteger(bits(r)) && bits(r) >= 2 && bits(r) <= 8, String(bits(r)));
    assert.ok([0, 0.9].includes(r.config.training.momentum));
  }
  assert.equal(a.runs.filter((r) => r.isBaseline).length, new Set(runs.map((r) => `${r.config.training.learningRate}/${r.config.training.momentum}`)).size);
});

test('a log range is log-uniform: a third of 300 draws from 1e-4..1e-1 fall below 1e-3 (uniform would put 1% there)', () => {
  const fixed = { ...base, representation: { kind: 'fixed', bits: 8 } };
  const plan = planSweep(req({ base: fixed, vary: { 'training.learningRate': { min: 1e-4, max: 1e-1, log: true } }, search: { kind: 'random', samples: 300, seed: 3 } }), 1000);
  const lrs = plan.runs.filter((r) => !r.isBaseline).map((r) => r.config.training.learningRate);
  const low = lrs.filter((x) => x < 1e-3).length / lrs.length;
  assert.ok(low > 0.25 && low < 0.42, `fraction below 1e-3: ${low}`);
  const uniform = planSweep(req({ base: fixed, vary: { 'training.learningRate': { min: 1e-4, max: 1e-1 } }, search: { kind: 'random', samples: 300, seed: 3 } }), 1000);
  assert.ok(uniform.runs.filter((r) => !r.isBaseline && r.config.training.learningRate < 1e-3).length < 15);
  // integers over a log range cover both ends
  const epochs = planSweep(req({ base: fixed, vary: { 'training.epochs': { min: 1, max: 4, log: true } }, search: { kind: 'random', samples: 200, seed: 1 } }), 1000);
  assert.deepEqual([...new Set(epochs.runs.map((r) => r.config.training.epochs))].sort(), [1, 2, 3, 4]);
  assert.equal(epochs.runs.filter((r) => !r.isBaseline).length, 4, 'identical draws run once');
});

test('random samples up to the sweep limit are accepted, one more is refused at search.samples', () => {
  // samples of a list-valued field collapse to its distinct configs; a range keeps them apart
  const at = planSweep(req({ base: { ...base, representation: { kind: 'fixed', bits: 8 } }, vary: { 'representation.bits': { min: 2, max: 16 } }, search: { kind: 'random', samples: 10, seed: 1 } }), 10);
  assert.ok(at.runs.length <= 10);
  assert.throws(
    () => planSweep(req({ vary: { 'training.learningRate': { min: 0.01, max: 0.1 } }, search: { kind: 'random', samples: 11 } }), 10),
    (e: unknown) => e instanceof SweepPlanError && e.kind === 'invalid' && e.issues[0].path.join('.') === 'search.samples',
  );
});

test('a stopping rule applies to the training-phase runs, never to baselines or inference-phase runs', () => {
  const plan = planSweep(req({ vary: { representation: [{ kind: 'fixed', bits: [2, 4] }], phase: ['training', 'inference'] }, stopping: { kind: 'median', warmup: 1 } }));
  assert.deepEqual(
    plan.runs.map((r) => `${r.isBaseline ? 'b' : r.config.phase[0]}:${r.stopping?.kind ?? '-'}`),
    ['b:-', 't:median', 't:median', 'i:-', 'i:-'],
  );
  assert.deepEqual(plan.stopping, { kind: 'median', warmup: 1, minPeers: 1 });
});

test('an unknown vary path named like an Object.prototype member is refused as unknown, not as an entry of its own', () => {
  for (const path of ['constructor', 'toString', 'hasOwnProperty']) {
    const r = SweepRequest.safeParse({ name: 's', base, vary: { [path]: [1] } });
    assert.equal(r.success, false);
    const message = r.error!.issues.map((i) => i.message).join('\n');
    assert.match(message, new RegExp(`"${path}" is not a field of the experiment a sweep can vary`));
    assert.doesNotMatch(message, /native code|has its own entry/);
  }
  // the real own entries still point at theirs
  const seed = SweepRequest.safeParse({ name: 's', base, vary: { 'training.seed': [1] } });
  assert.match(seed.error!.issues[0].message, /has its own entry: use vary\.seeds/);
});

test('samples in a grid is refused at search.samples (a grid runs every combination; it would be ignored)', () => {
  const r = SweepRequest.safeParse({ name: 's', base, vary: { 'training.learningRate': [0.1, 0.2] }, search: { kind: 'grid', samples: 3 } });
  assert.equal(r.success, false);
  assert.deepEqual(r.error!.issues.map((i) => i.path.join('.')), ['search.samples']);
  assert.match(r.error!.issues[0].message, /search\.kind "random"/);
  // the default search (a grid, no samples) is still fine
  assert.equal(SweepRequest.safeParse({ name: 's', base, vary: { 'training.learningRate': [0.1, 0.2] } }).success, true);
});

test('the sensitivity preset refuses bits in its family at representation.bits (widths set them; it was overwritten)', () => {
  const r = SweepRequest.safeParse({ preset: 'sensitivity', budget: 'small', representation: { kind: 'fixed', bits: 4 } });
  assert.equal(r.success, false);
  assert.ok(r.error!.issues.some((i) => i.path.join('.') === 'representation.bits' && /widths/.test(i.message)), JSON.stringify(r.error!.issues));
  assert.equal(SweepRequest.safeParse({ preset: 'sensitivity', budget: 'small', representation: { kind: 'fixed', range: 'maxabs' }, widths: [2, 4] }).success, true);
});
