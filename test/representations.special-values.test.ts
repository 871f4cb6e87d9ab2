// Special values: −0, denormals, all-equal layers and single weights are valid weights every representation handles;
// NaN and ±Inf are refused by name (layer and element) instead of silently turning ranges and dictionaries into
// garbage. Plus the re-seeding of empty dictionary entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Representation, WeightError } from '@quantlab/shared';
import { Rng } from '../services/ml/src/random.ts';
import { createQuantizer, NonFiniteWeightError, type LayerWeights } from '../services/ml/src/representations/index.ts';
import { DictionaryQuantizer } from '../services/ml/src/representations/dictionary.ts';
import { cellStatsFor, lloydStep, sortWeights } from '../services/ml/src/representations/dictionary-fit.ts';
import { decodeArtifact } from '../services/ml/src/artifact/index.ts';

const f32 = Math.fround;
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const DENORMALS = [1e-45, -1e-45, 1.1754942e-38, -5.9e-39, 2.4e-42];

/** Finite float32 weights with the awkward cases: −0, denormals, every value equal, a single weight. */
const finiteValues: fc.Arbitrary<Float32Array> = fc.oneof(
  fc.float32Array({ noNaN: true, noDefaultInfinity: true, min: f32(-4), max: f32(4), minLength: 1, maxLength: 60 }),
  fc.array(fc.constantFrom(0, -0, ...DENORMALS, 0.5, -0.25), { minLength: 1, maxLength: 40 }).map((a) => Float32Array.from(a)),
  fc.tuple(fc.constantFrom(0, -0, 1e-45, -3, 0.125), fc.integer({ min: 1, max: 30 })).map(([v, n]) => new Float32Array(n).fill(v)),
  fc.constantFrom(0, -0, 1e-45, 7, -2.5e-3).map((v) => Float32Array.of(v)),
);
/** Layers shaped [n/c, c] so that per-channel granularity has channels to work with. */
const layersArb = fc.array(finiteValues, { minLength: 1, maxLength: 3 }).map((vs) =>
  vs.map((values, i): LayerWeights => {
    const c = values.length % 3 === 0 ? 3 : 1;
    return { name: `l${i}/kernel`, shape: [values.length / c, c], values };
  }),
);
const reprArb: fc.Arbitrary<Representation> = fc.oneof(
  fc
    .record({
      bits: fc.integer({ min: 2, max: 16 }),
      range: fc.constantFrom('pow2' as const, 'maxabs' as const, 'mse' as const),
      rounding: fc.constantFrom('nearest' as const, 'stochastic' as const),
      granularity: fc.constantFrom('layer' as const, 'channel' as const),
    })
    .map((r) => Representation.parse({ kind: 'fixed', ...r })),
  fc
    .record({
      bits: fc.integer({ min: 1, max: 6 }),
      scope: fc.constantFrom('global' as const, 'per-layer' as const),
      init: fc.constantFrom('uniform' as const, 'nonuniform' as const),
      refine: fc.integer({ min: 0, max: 3 }),
      granularity: fc.constantFrom('layer' as const, 'channel' as const),
    })
    .map((r) => Representation.parse({ kind: 'dictionary', ...r })),
);

test('−0, denormals, all-equal layers and single weights: finite weights out, a finite error, and decode(pack) = deploy', () => {
  fc.assert(
    fc.property(layersArb, reprArb, fc.integer(), (layers, repr, seed) => {
      const q = createQuantizer(repr);
      q.fit(layers);
      const applied = q.apply(layers, new Rng(seed));
      const deployed = q.deploy(layers);
      for (const out of [...applied, ...deployed]) for (const v of out) assert.ok(Number.isFinite(v), `${JSON.stringify(repr)}: decoded ${v}`);
      const e = q.error(layers, deployed);
      assert.deepEqual(WeightError.parse(e), e);
      assert.ok(Number.isFinite(e.mse) && e.mse >= 0, `mse ${e.mse}`);
      assert.ok(e.sqnrDb === null || Number.isFinite(e.sqnrDb));
      const a = decodeArtifact(q.pack(layers));
      layers.forEach((_, i) => assert.deepEqual(bitsOf(a.layers[i].values), bitsOf(deployed[i])));
      // Fixed point decodes an all-zero layer (±0 only) to zeros (a shared dictionary need not hold 0).
      if (repr.kind === 'fixed') layers.forEach((l, i) => l.values.every((v) => v === 0) && assert.ok(deployed[i].every((v) => v === 0)));
    }),
    { numRuns: 400 },
  );
});

test('NaN and ±Inf are refused by fit and by the error metrics, naming the layer and the element', () => {
  fc.assert(
    fc.property(layersArb, reprArb, fc.constantFrom(NaN, Infinity, -Infinity), fc.nat(), fc.nat(), (layers, repr, bad, li, at) => {
      const l = li % layers.length;
      const i = at % layers[l].values.length;
      const q = createQuantizer(repr);
      q.fit(layers);
      const deployed = q.deploy(layers);
      const broken = layers.map((x, k) => (k === l ? { ...x, values: Float32Array.from(x.values) } : x));
      broken[l].values[i] = bad;
      const first = broken[l].values.findIndex((v) => !Number.isFinite(v));
      const check = (e: unknown) =>
        e instanceof NonFiniteWeightError && e.layer === `l${l}/kernel` && e.index === first && e.message === `layer l${l}/kernel: weight ${first} is ${bad} (weights must be finite)`;
      assert.throws(() => createQuantizer(repr).fit(broken), check);
      assert.throws(() => q.error(broken, deployed), check);
    }),
    { numRuns: 200 },
  );
});

test('an empty dictionary entry is re-seeded by splitting the largest cell at its centroid', () => {
  // 900 weights around 0 and 100 at exactly 1: evenly spaced 2-bit entries over [min, 1] leave the two middle
  // entries with no weight.
  const rng = new Rng(3);
  const cluster = Float32Array.from({ length: 900 }, () => 0.01 * rng.normal());
  const values = Float32Array.from([...cluster, ...new Array(100).fill(1)]);
  const data = sortWeights(values);
  const lo = data.sorted[0];
  const entries = Float64Array.from([lo, lo + (1 - lo) / 3, lo + (2 * (1 - lo)) / 3, 1]);
  assert.ok(lloydStep([data], [1], entries, cellStatsFor(4)));
  // By hand: the cluster's centroid c, then the means of its weights at most c and above c. The cell of 1s cannot be
  // split (one value), so the second empty entry stays where it was.
  const c = cluster.reduce((a, b) => a + b, 0) / 900;
  const below = cluster.filter((w) => w <= c);
  const above = cluster.filter((w) => w > c);
  const mean = (a: Float32Array) => a.reduce((x, y) => x + y, 0) / a.length;
  const expected = [mean(below), mean(above), lo + (2 * (1 - lo)) / 3, 1].sort((a, b) => a - b);
  expected.forEach((e, k) => assert.ok(Math.abs(entries[k] - e) < 1e-12, `entry ${k}: ${entries[k]} vs ${e}`));

  // Through the quantizer: Lloyd iterations end with every entry in use and a far lower error than the init's.
  const layers = [{ name: 'w', shape: [1000], values }];
  const plain = new DictionaryQuantizer(Representation.parse({ kind: 'dictionary', bits: 2, scope: 'per-layer' }) as never);
  const refined = new DictionaryQuantizer(Representation.parse({ kind: 'dictionary', bits: 2, scope: 'per-layer', refine: 4 }) as never);
  const ePlain = plain.error(layers, plain.deploy(layers));
  const eRefined = refined.error(layers, refined.deploy(layers));
  assert.equal(ePlain.unusedEntries, 2);
  assert.equal(eRefined.unusedEntries, 0);
  assert.ok(eRefined.mse < ePlain.mse / 2, `${eRefined.mse} vs ${ePlain.mse}`);
});
