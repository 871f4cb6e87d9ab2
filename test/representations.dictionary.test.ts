import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DictionaryRepresentation } from '@quantlab/shared';
import { Rng } from '../services/ml/src/random.ts';
import { DictionaryQuantizer } from '../services/ml/src/representations/index.ts';
import { nearestCodeBySearch, quantizeDictionary } from '../services/ml/src/representations/dictionary.ts';
import { compandedEntries, midpoints, pooledQuantiles, radixSortFloat32, sortWeights } from '../services/ml/src/representations/dictionary-fit.ts';
import type { LayerWeights } from '../services/ml/src/representations/types.ts';

const f32 = Math.fround;
const layerArb = fc.float32Array({ min: f32(-4), max: f32(4), noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength: 150 });
const layersArb = fc.array(layerArb, { minLength: 1, maxLength: 3 }).map((vs) => vs.map((values, i): LayerWeights => ({ name: `l${i}`, shape: [values.length], values })));
const reprArb = fc
  .record({
    bits: fc.integer({ min: 1, max: 8 }),
    scope: fc.constantFrom('global' as const, 'per-layer' as const),
    init: fc.constantFrom('uniform' as const, 'nonuniform' as const),
    refine: fc.integer({ min: 0, max: 4 }),
  })
  .map((r) => DictionaryRepresentation.parse({ kind: 'dictionary', ...r }));

function gaussianLayers(seed: number, sizes: number[], sigmas: number[]): LayerWeights[] {
  const rng = new Rng(seed);
  return sizes.map((n, i) => ({ name: `l${i}`, shape: [n], values: Float32Array.from({ length: n }, () => sigmas[i] * rng.normal()) }));
}

test('codes are below 2^bits and every decoded value is the nearest entry times the layer scale', () => {
  fc.assert(
    fc.property(layersArb, reprArb, (layers, repr) => {
      const q = new DictionaryQuantizer(repr);
      q.fit(layers);
      const { codes, decoded } = q.encode(layers);
      assert.equal(q.dictionaries.length, repr.scope === 'global' ? 1 : layers.length);
      layers.forEach((layer, l) => {
        const d = q.dictionaries[repr.scope === 'global' ? 0 : l];
        const s = q.scales[l];
        assert.equal(d.length, 2 ** repr.bits);
        for (let k = 1; k < d.length; k++) assert.ok(d[k - 1] <= d[k], 'entries sorted');
        assert.ok(s > 0 && Number.isFinite(s), `scale ${s}`);
        if (repr.scope === 'per-layer') assert.equal(s, 1);
        for (let i = 0; i < layer.values.length; i++) {
          const c = codes[l][i];
          assert.ok(Number.isInteger(c) && c >= 0 && c < 2 ** repr.bits, `code ${c}`);
          assert.equal(decoded[l][i], f32(d[c] * s));
          const x = layer.values[i] / s;
          const best = Math.abs(x - d[c]);
          for (let j = 0; j < d.length; j++) assert.ok(best <= Math.abs(x - d[j]) * (1 + 1e-12), `entry ${c} is not the nearest to ${x}`);
        }
      });
      // apply gives exactly what encode decodes.
      const applied = q.apply(layers, new Rng(1));
      applied.forEach((a, l) => assert.deepEqual(a, decoded[l]));
    }),
    { numRuns: 250 },
  );
});

test('uniform entries are evenly spaced from the smallest to the largest weight; nonuniform ones follow the cube root of the density', () => {
  const values = Float32Array.from({ length: 1000 }, (_, i) => i);
  const layers = [{ name: 'w', shape: [1000], values }];
  const u = new DictionaryQuantizer(DictionaryRepresentation.parse({ kind: 'dictionary', bits: 2, scope: 'per-layer', init: 'uniform' }));
  u.fit(layers);
  assert.deepEqual(Array.from(u.dictionaries[0]), [0, 333, 666, 999]);

  // Density 8 on [0, 1) and 1 on [1, 2): cube roots 2 and 1, so of 6 entries 4 go to [0, 1) and 2 to [1, 2), each
  // at the middle of an equal share of ∫p^(1/3); plain quantiles would put 5.3 of them in [0, 1).
  const dense = Float32Array.from({ length: 9000 }, (_, i) => (i < 8000 ? i / 8000 : 1 + (i - 8000) / 1000));
  const got = compandedEntries([sortWeights(dense)], [1], 6);
  const expected = [0.125, 0.375, 0.625, 0.875, 1.25, 1.75];
  got.forEach((g, k) => assert.ok(Math.abs(g - expected[k]) < 0.02, `entry ${k}: ${g} vs ${expected[k]}`));
});

test('nonuniform (companded) entries beat evenly spaced ones on bell-shaped weights, without Lloyd steps', () => {
  const rng = new Rng(23);
  const laplace = () => {
    const u = rng.next() - 0.5;
    return -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  };
  const shapes = { gaussian: () => rng.normal(), laplace };
  for (const [shape, draw] of Object.entries(shapes)) {
    const layers = [{ name: shape, shape: [20_000], values: Float32Array.from({ length: 20_000 }, draw) }];
    for (const bits of [3, 5, 8]) {
      const sqnr = (init: 'uniform' | 'nonuniform') => {
        const q = new DictionaryQuantizer(DictionaryRepresentation.parse({ kind: 'dictionary', bits, scope: 'per-layer', init }));
        q.fit(layers);
        return q.error(layers, q.apply(layers, new Rng(1))).sqnrDb!;
      };
      const [u, n] = [sqnr('uniform'), sqnr('nonuniform')];
      assert.ok(n > u + 0.5, `${shape}, ${bits} bits: nonuniform ${n.toFixed(1)} dB, uniform ${u.toFixed(1)} dB`);
    }
  }
});

test('global scope: one dictionary, each layer gets its own least-squares scale', () => {
  const [a] = gaussianLayers(4, [4000], [0.05]);
  const b = { name: 'b', shape: a.shape, values: a.values.map((v) => v * 16) }; // exact in float32
  const c = gaussianLayers(5, [3000], [0.3])[0];
  const layers = [a, b, c];
  for (const init of ['uniform', 'nonuniform'] as const) {
    const q = new DictionaryQuantizer(DictionaryRepresentation.parse({ kind: 'dictionary', bits: 4, init }));
    q.fit(layers);
    // A layer that is another one times 16 gets 16 times its scale, and the same relative error.
    assert.ok(Math.abs(q.scales[1] / q.scales[0] - 16) < 1e-9, `scales ${q.scales}`);
    const e = q.error(layers, q.apply(layers, new Rng(1)));
    assert.ok(Math.abs(e.layers[0].sqnrDb! - e.layers[1].sqnrDb!) < 1e-6, 'same relative error');
    // The fitted scale is a least-squares optimum: nudging it either way (codes re-chosen) does not lower the MSE.
    for (const l of [0, 2]) {
      const s = q.scales[l];
      const dict = q.dictionaries[0];
      const mseAt = (scale: number) => {
        let se = 0;
        for (const w of layers[l].values) {
          let best = Infinity;
          for (const d of dict) best = Math.min(best, (w - d * scale) ** 2);
          se += best;
        }
        return se / layers[l].values.length;
      };
      const at = mseAt(s);
      // error() measures the float32-stored values, mseAt exact products: equal up to float32 rounding.
      assert.ok(Math.abs(at - e.layers[l].mse) <= 1e-6 * at, `mse ${at} vs ${e.layers[l].mse}`);
      assert.ok(mseAt(s * 1.02) >= at * (1 - 1e-9) && mseAt(s * 0.98) >= at * (1 - 1e-9), `layer ${l}: scale ${s} is not a local optimum`);
    }
  }
});

test('Lloyd refinement never increases the error, and helps nonuniform entries', () => {
  const layers = gaussianLayers(11, [20_000, 5000], [0.02, 0.1]);
  for (const scope of ['global', 'per-layer'] as const) {
    const mse = (refine: number) => {
      const q = new DictionaryQuantizer(DictionaryRepresentation.parse({ kind: 'dictionary', bits: 4, scope, init: 'nonuniform', refine }));
      return q.error(layers, q.apply(layers, new Rng(1))).mse;
    };
    const m0 = mse(0);
    const m2 = mse(2);
    const m10 = mse(10);
    assert.ok(m2 < m0 && m10 <= m2 * (1 + 1e-6), `${scope}: ${m0} ${m2} ${m10}`);
  }
});

test('unusedEntries counts the entries no weight maps to', () => {
  const layers = [{ name: 'w', shape: [6], values: Float32Array.of(-1, -1, 1, 1, 1, -1) }];
  const q = new DictionaryQuantizer(DictionaryRepresentation.parse({ kind: 'dictionary', bits: 3, scope: 'per-layer' }));
  const e = q.error(layers, q.apply(layers, new Rng(1)));
  assert.equal(e.unusedEntries, 6);
  assert.equal(e.layers[0].unusedEntries, 6);
  assert.equal(e.mse, 0);
  assert.equal(e.sqnrDb, null);
  // An all-zero layer is fine too.
  const z = [{ name: 'z', shape: [4], values: new Float32Array(4) }];
  const g = new DictionaryQuantizer(DictionaryRepresentation.parse({ kind: 'dictionary', bits: 2 }));
  assert.deepEqual(Array.from(g.apply(z, new Rng(1))[0]), [0, 0, 0, 0]);
});

test('radix sort orders float32 values like a comparison sort (negatives, zeros, subnormals, infinities)', () => {
  fc.assert(
    fc.property(fc.float32Array({ noNaN: true, maxLength: 500 }), (v) => {
      const expected = Float32Array.from(v).sort();
      assert.deepEqual(Array.from(radixSortFloat32(v)), Array.from(expected));
    }),
    { numRuns: 200 },
  );
});

test('pooled quantiles of scaled layers equal the quantiles of the sorted pool', () => {
  fc.assert(
    fc.property(fc.array(fc.float32Array({ min: f32(-5), max: f32(5), noNaN: true, maxLength: 60 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 40 }), (vs, count) => {
      const scales = vs.map((_, i) => 2 ** (i - 1));
      const pool = Float64Array.from(vs.flatMap((v, i) => Array.from(v, (x) => x / scales[i]))).sort();
      const probs = Float64Array.from({ length: count + 1 }, (_, k) => k / count);
      const got = pooledQuantiles(vs.map(sortWeights), scales, probs);
      probs.forEach((p, k) => {
        if (pool.length === 0) return assert.equal(got[k], 0);
        // The textbook definition: linear interpolation between the order statistics around p·(n − 1).
        const pos = p * (pool.length - 1);
        const i = Math.floor(pos);
        const j = Math.min(i + 1, pool.length - 1);
        const expected = pool[i] + (pos - i) * (pool[j] - pool[i]);
        assert.ok(Math.abs(got[k] - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `p = ${p}: ${got[k]} vs ${expected}`);
      });
    }),
    { numRuns: 300 },
  );
});

test('companded entries of scaled layers equal those of the sorted pool', () => {
  fc.assert(
    fc.property(fc.array(fc.float32Array({ min: f32(-5), max: f32(5), noNaN: true, maxLength: 60 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 7 }), (vs, bits) => {
      // Power-of-two scales divide exactly, so the pool below holds the very values the layers are compared with.
      const scales = vs.map((_, i) => 2 ** (i - 1));
      const pool = Float32Array.from(vs.flatMap((v, i) => Array.from(v, (x) => x / scales[i])));
      const expected = compandedEntries([sortWeights(pool)], [1], 2 ** bits);
      const got = compandedEntries(vs.map(sortWeights), scales, 2 ** bits);
      got.forEach((g, k) => assert.ok(Math.abs(g - expected[k]) <= 1e-9 * Math.max(1, Math.abs(g)), `entry ${k}: ${g} vs ${expected[k]}`));
      for (let k = 1; k < got.length; k++) assert.ok(got[k] >= got[k - 1], 'sorted');
    }),
    { numRuns: 300 },
  );
});

test('global scales are the best over a wide scan (×1/8..×8), for uniform and nonuniform entries, with outliers', () => {
  const rng = new Rng(17);
  const sigmas = [0.12, 0.03, 0.02];
  const layers = sigmas.map((sigma, i) => ({
    name: `l${i}`,
    shape: [3000],
    values: Float32Array.from({ length: 3000 }, () => sigma * rng.normal() * (rng.next() < 0.01 ? 3 : 1)),
  }));
  for (const init of ['uniform', 'nonuniform'] as const) {
    const q = new DictionaryQuantizer(DictionaryRepresentation.parse({ kind: 'dictionary', bits: 4, init }));
    q.fit(layers);
    const dict = Array.from(q.dictionaries[0]);
    layers.forEach((layer, l) => {
      // Brute force: every weight against every entry.
      const mseAt = (scale: number) => {
        let se = 0;
        for (const w of layer.values) {
          let best = Infinity;
          for (const d of dict) best = Math.min(best, (w - d * scale) ** 2);
          se += best;
        }
        return se / layer.values.length;
      };
      const fitted = mseAt(q.scales[l]);
      for (let j = -48; j <= 48; j++) {
        const s = q.scales[l] * 2 ** (j / 16);
        assert.ok(fitted <= mseAt(s) * (1 + 1e-3), `${init}, layer ${l}: scale ${s} beats the fitted ${q.scales[l]}`);
      }
    });
  }
});

test('the table-started encoding gives exactly the codes of a binary search over the midpoints', () => {
  const rng = new Rng(17);
  for (const bits of [1, 2, 3, 5, 8]) {
    const size = 2 ** bits;
    // Uneven entries (clustered near 0, a far outlier, a repeated pair) and a per-channel scale.
    const raw = Array.from({ length: size }, (_, k) => (k === size - 1 ? 40 : Math.sign(rng.normal()) * rng.next() ** 3));
    if (size >= 4) raw[1] = raw[2];
    const entries = Float32Array.from(raw).sort();
    const mids = midpoints(entries);
    const scales = Float64Array.from([0.5, 1, 3]);
    const values = [...Array.from({ length: 5000 }, () => rng.normal() * 2), ...Array.from(mids).flatMap((m) => [m * 0.5, m, m * 3]), NaN, Infinity, -Infinity, 0, -0, 1e30, -1e30];
    const src = Float32Array.from(values);
    const dst = new Float32Array(src.length);
    const codes = new Int32Array(src.length);
    quantizeDictionary(src, entries, mids, scales, dst, codes);
    for (let i = 0; i < src.length; i++) {
      const scale = scales[i % scales.length];
      const c = nearestCodeBySearch(src[i] / scale, mids);
      assert.equal(codes[i], c, `${bits} bits, value ${src[i]} / ${scale}`);
      assert.ok(Object.is(dst[i], Math.fround(entries[c] * scale)), `${bits} bits, decoded ${src[i]}`);
    }
  }
});
