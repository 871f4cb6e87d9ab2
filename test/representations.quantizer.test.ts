import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DictionaryRepresentation, FixedRepresentation, Representation, WeightError } from '@quantlab/shared';
import { Rng } from '../services/ml/src/random.ts';
import { createQuantizer, DictionaryQuantizer, FixedPointQuantizer, Float32Quantizer, type LayerWeights } from '../services/ml/src/representations/index.ts';

const rng = new Rng(21);
const layers: LayerWeights[] = [
  { name: 'conv1/kernel', shape: [5, 5, 1, 8], values: Float32Array.from({ length: 200 }, () => rng.normal() * 0.2) },
  { name: 'fc/kernel', shape: [40, 10], values: Float32Array.from({ length: 400 }, () => rng.normal() * 0.05) },
];
const reprs = [
  { kind: 'float32' },
  { kind: 'fixed', bits: 6 },
  { kind: 'fixed', bits: 6, range: 'pow2', fractionBits: 3, rounding: 'stochastic' },
  { kind: 'dictionary', bits: 4 },
  { kind: 'dictionary', bits: 4, scope: 'per-layer', init: 'nonuniform', refine: 3 },
].map((r) => Representation.parse(r));

test('createQuantizer picks the class of each kind and keeps the representation', () => {
  const classes = [Float32Quantizer, FixedPointQuantizer, FixedPointQuantizer, DictionaryQuantizer, DictionaryQuantizer];
  reprs.forEach((r, i) => {
    const q = createQuantizer(r);
    assert.ok(q instanceof classes[i], `${r.kind}`);
    assert.deepEqual(q.representation, r);
  });
});

test('error() has the WeightError shape of the run document, with the fields of each kind', () => {
  for (const r of reprs) {
    const q = createQuantizer(r);
    const e = q.error(layers, q.apply(layers, new Rng(1)));
    assert.deepEqual(WeightError.parse(e), e);
    assert.deepEqual(e.layers.map((l) => [l.name, l.count]), [['conv1/kernel', 200], ['fc/kernel', 400]]);
    assert.equal('saturated' in e, r.kind === 'fixed', `${r.kind} saturated`);
    assert.equal('unusedEntries' in e, r.kind === 'dictionary', `${r.kind} unusedEntries`);
    assert.equal(e.layers[0].step !== undefined, r.kind === 'fixed');
    assert.equal(e.layers[0].scale !== undefined, r.kind === 'dictionary');
    if (r.kind === 'float32') assert.deepEqual([e.mse, e.sqnrDb], [0, null]);
    else assert.ok(e.mse > 0 && e.sqnrDb! > 0, `${JSON.stringify(r)}: mse ${e.mse}, sqnr ${e.sqnrDb}`);
  }
});

test('apply fits on first use, never aliases the master weights, and refuses layers it was not fitted on', () => {
  for (const r of reprs) {
    const q = createQuantizer(r);
    const out = q.apply(layers, new Rng(1));
    out.forEach((o, i) => assert.notEqual(o, layers[i].values));
    if (r.kind !== 'float32') assert.throws(() => q.apply(layers.slice(0, 1), new Rng(1)), /fitted on 2 layers, got 1/);
  }
});

test('fit follows the master weights: after an update, a refit changes steps and scales', () => {
  const moved = layers.map((l) => ({ ...l, values: l.values.map((v) => v * 3) }));
  const f = new FixedPointQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 8 }));
  f.fit(layers);
  const before = f.steps;
  f.fit(moved);
  f.steps.forEach((s, i) => assert.ok(Math.abs(s / before[i] - 3) < 1e-6, `step ${s} vs ${before[i]}`));
  const d = new DictionaryQuantizer(DictionaryRepresentation.parse({ kind: 'dictionary', bits: 4 }));
  d.fit(layers);
  const scales = d.scales;
  d.fit(moved);
  d.scales.forEach((s, i) => assert.ok(Math.abs(s / scales[i] - 3) < 1e-3, `scale ${s} vs ${scales[i]}`));
});

test('createQuantizer fills in defaults of a hand-written representation and refuses invalid ones', () => {
  const q = createQuantizer({ kind: 'dictionary', bits: 3 } as Representation);
  assert.deepEqual(q.representation, { kind: 'dictionary', bits: 3, scope: 'global', init: 'uniform', refine: 0, refitEvery: 'epoch', granularity: 'layer', update: 'refit' });
  assert.throws(() => createQuantizer({ kind: 'fixed', bits: 40 } as Representation), /bits must be 2\.\.16/);
});
