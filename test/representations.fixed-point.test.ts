import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FixedRepresentation } from '@quantlab/shared';
import { Rng } from '../services/ml/src/random.ts';
import { FixedPointQuantizer, createQuantizer, fixedStep, qFormat } from '../services/ml/src/representations/index.ts';

const f32 = Math.fround;
/** Weights as training produces them: finite float32 values, some tiny, some large. */
const weights = (maxLength = 200) =>
  fc.float32Array({ min: f32(-8), max: f32(8), noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength });
const fixedRepr = fc.record({
  bits: fc.integer({ min: 2, max: 16 }),
  range: fc.constantFrom('pow2' as const, 'maxabs' as const, 'mse' as const),
  rounding: fc.constantFrom('nearest' as const, 'stochastic' as const),
});
/** float32 storage of the decoded value adds at most half an ulp of it. */
const storeTol = (v: number) => Math.abs(v) * 2 ** -23;

test('inside the range the error is at most step/2; codes are integers of the signed range; decoded = code × step', () => {
  fc.assert(
    fc.property(weights(), fixedRepr, fc.integer(), (values, r, seed) => {
      const q = new FixedPointQuantizer(FixedRepresentation.parse({ kind: 'fixed', ...r, rounding: 'nearest' }));
      const layers = [{ name: 'w', shape: [values.length], values }];
      q.fit(layers);
      const step = q.steps[0];
      const enc = q.encode(layers, new Rng(seed));
      const codes = enc.codes[0];
      const decoded = enc.decoded[0];
      const qmax = 2 ** (r.bits - 1) - 1;
      let clipped = 0;
      for (let i = 0; i < values.length; i++) {
        assert.ok(Number.isInteger(codes[i]) && codes[i] >= -qmax - 1 && codes[i] <= qmax, `code ${codes[i]}`);
        assert.equal(decoded[i], f32(codes[i] * step));
        const x = values[i] / step;
        if (x > qmax + 0.5 || x < -qmax - 1.5) {
          // Beyond half a step outside the range: saturated at its end.
          assert.equal(codes[i], x > 0 ? qmax : -qmax - 1);
          clipped++;
        } else assert.ok(Math.abs(values[i] - decoded[i]) <= step / 2 + storeTol(decoded[i]), `w=${values[i]} step=${step} got ${decoded[i]}`);
      }
      const saturated = q.error(layers, enc.decoded).saturated;
      assert.equal(saturated, clipped / values.length);
      // maxabs maps max|w| to the top code: nothing saturates. Q-format clips only weights within half a step of 2^I.
      if (r.range === 'maxabs') assert.equal(saturated, 0);
      if (r.range === 'pow2') for (let i = 0; i < values.length; i++) if (codes[i] === qmax && values[i] / step > qmax + 0.5) assert.ok(values[i] / step <= qmax + 1);
    }),
    { numRuns: 300 },
  );
});

test('outside the range values saturate exactly at its ends (no wrap-around), for both roundings', () => {
  fc.assert(
    fc.property(weights(), fc.integer({ min: 2, max: 16 }), fc.integer({ min: -2, max: 20 }), fc.boolean(), (values, bits, fractionBits, stochastic) => {
      const repr = FixedRepresentation.parse({ kind: 'fixed', bits, range: 'pow2', fractionBits, rounding: stochastic ? 'stochastic' : 'nearest' });
      const q = new FixedPointQuantizer(repr);
      const layers = [{ name: 'w', shape: [values.length], values }];
      const out = q.apply(layers, new Rng(3));
      const step = 2 ** -fractionBits;
      assert.equal(q.steps[0], step);
      const hi = (2 ** (bits - 1) - 1) * step;
      const lo = -(2 ** (bits - 1)) * step;
      let outside = 0;
      for (let i = 0; i < values.length; i++) {
        const w = values[i];
        if (w > hi) assert.equal(out[0][i], f32(hi));
        else if (w < lo) assert.equal(out[0][i], f32(lo));
        else assert.ok(Math.abs(w - out[0][i]) <= (stochastic ? step : step / 2) + storeTol(out[0][i]), `w=${w} got ${out[0][i]}`);
        // The metric counts the weights clipping moved by more than rounding would (beyond half a step out).
        if (w / step > hi / step + 0.5 || w / step < lo / step - 0.5) outside++;
      }
      const err = q.error(layers, out);
      assert.equal(err.saturated, outside / values.length);
      assert.equal(err.layers[0].saturated, outside / values.length);
    }),
    { numRuns: 300 },
  );
});

test('pow2 is the Q-format: integer bits I = the smallest with 2^I >= max|w|, fraction bits F = B - 1 - I, step 2^-F; maxabs maps max|w| to the top code', () => {
  fc.assert(
    fc.property(fc.double({ min: 1e-12, max: 1e6, noNaN: true }), fc.integer({ min: 2, max: 16 }), (max, bits) => {
      const qmax = 2 ** (bits - 1) - 1;
      const s = fixedStep(FixedRepresentation.parse({ kind: 'fixed', bits, range: 'pow2' }), max);
      const I = Math.log2(s) + bits - 1;
      assert.equal(I, Math.round(I));
      assert.ok(2 ** I >= max && 2 ** (I - 1) < max, `step ${s} for max ${max}`);
      assert.deepEqual(qFormat(bits, max), { integerBits: I, fractionBits: bits - 1 - I, step: s });
      assert.equal(fixedStep(FixedRepresentation.parse({ kind: 'fixed', bits }), max), max / qmax);
    }),
  );
  // Small weights get more fraction bits than total bits: 4 bits, max|w| = 0.001 <= 2^-9 → I = -9, F = 12.
  assert.equal(fixedStep(FixedRepresentation.parse({ kind: 'fixed', bits: 4, range: 'pow2' }), 0.001), 2 ** -12);
  // An all-zero layer is valid and stays zero.
  const q = createQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 8 }));
  const zeros = [{ name: 'z', shape: [3], values: new Float32Array(3) }];
  assert.deepEqual(Array.from(q.apply(zeros, new Rng(1))[0]), [0, 0, 0]);
});

test('pow2 ranges and fraction bits of cnn5-like layers, against hand-computed values', () => {
  // max|w| of each layer; B = 8 bits (1 sign bit + I integer bits + F fraction bits, I + F = 7).
  //   conv1 max 0.7:    2^0 = 1 >= 0.7 > 0.5      → I = 0,  F = 7,  step 2^-7,  range [-1, 1 - 2^-7]
  //   conv2 max 0.3:    2^-1 = 0.5 >= 0.3 > 0.25  → I = -1, F = 8,  step 2^-8,  range [-0.5, 0.5 - 2^-8]
  //   conv3 max 0.0625: 2^-4 = 0.0625 exactly     → I = -4, F = 11, step 2^-11; +0.0625 saturates at 0.0625 - 2^-11
  //   fc1 max 1.5:      2^1 = 2 >= 1.5 > 1        → I = 1,  F = 6,  step 2^-6
  //   fc2 max 3:        2^2 = 4 >= 3 > 2          → I = 2,  F = 5,  step 2^-5
  const maxima = [0.7, 0.3, 0.0625, 1.5, 3];
  const expected = [
    { integerBits: 0, fractionBits: 7 },
    { integerBits: -1, fractionBits: 8 },
    { integerBits: -4, fractionBits: 11 },
    { integerBits: 1, fractionBits: 6 },
    { integerBits: 2, fractionBits: 5 },
  ];
  const layers = maxima.map((m, i) => ({ name: `l${i}`, shape: [4], values: Float32Array.of(m / 3, -m / 2, m, 0) }));
  const q = new FixedPointQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 8, range: 'pow2' }));
  q.fit(layers);
  maxima.forEach((m, i) => {
    const { integerBits, fractionBits } = qFormat(8, f32(m));
    assert.deepEqual({ integerBits, fractionBits }, expected[i], `layer ${i}`);
    assert.equal(q.steps[i], 2 ** -expected[i].fractionBits);
  });
  const out = q.deploy(layers);
  // conv3's weight at exactly 2^-4 saturates one step below; conv1's 0.7 is 90 steps of 2^-7 (0.703125).
  assert.equal(out[2][2], f32(0.0625 - 2 ** -11));
  assert.equal(out[0][2], 90 * 2 ** -7);
  assert.equal(q.error(layers, out).layers[2].saturated, 0.25);
  // 4 bits (I + F = 3): conv1 I = 0 → F = 3, step 0.125, 0.7 → 6·0.125 = 0.75 (0.7/0.125 = 5.6); 
  // fc2 I = 2 → F = 1, step 0.5, -1.5 → -3·0.5.
  const q4 = new FixedPointQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 4, range: 'pow2' }));
  const out4 = q4.deploy(layers);
  assert.deepEqual([q4.steps[0], q4.steps[4]], [0.125, 0.5]);
  assert.equal(out4[0][2], 0.75);
  assert.equal(out4[4][1], -1.5);
  // A given fractionBits holds for every layer: F = 6 → step 2^-6, fc2's 3 saturates at 127·2^-6.
  const qf = new FixedPointQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 8, range: 'pow2', fractionBits: 6 }));
  const outf = qf.deploy(layers);
  assert.deepEqual(qf.steps, [2 ** -6, 2 ** -6, 2 ** -6, 2 ** -6, 2 ** -6]);
  assert.equal(outf[4][2], 127 * 2 ** -6);
});

test('mse: the searched step is (near) the squared-error optimum: within 0.5% of every step ±2% and ±5% around it, never worse than max-abs', () => {
  const n = 4000;
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 0, max: 1000 }), (bits, seed) => {
      const r = new Rng(seed);
      // Laplacian-like weights with 1% outliers: the case where max-abs wastes range.
      const values = Float32Array.from({ length: n }, () => (r.next() < 0.5 ? -1 : 1) * Math.log(1 - r.next() * 0.999) * 0.05 * (r.next() < 0.01 ? 5 : 1));
      const layers = [{ name: 'w', shape: [n], values }];
      const qmax = 2 ** (bits - 1) - 1;
      const mseAt = (step: number) => {
        let e = 0;
        for (const w of values) e += (w - Math.min(qmax, Math.max(-qmax - 1, Math.round(w / step))) * step) ** 2;
        return e / n;
      };
      const mse = new FixedPointQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits, range: 'mse' }));
      const maxabs = new FixedPointQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits, range: 'maxabs' }));
      const eMse = mse.error(layers, mse.deploy(layers)).mse;
      assert.ok(Math.abs(eMse - mseAt(mse.steps[0])) <= 1e-5 * eMse, `${eMse} vs ${mseAt(mse.steps[0])}`);
      assert.ok(eMse <= maxabs.error(layers, maxabs.deploy(layers)).mse * (1 + 1e-9));
      for (const f of [0.95, 0.98, 1.02, 1.05]) assert.ok(eMse <= mseAt(mse.steps[0] * f) * 1.005, `bits ${bits}: step ${mse.steps[0]} ×${f} is better`);
    }),
    { numRuns: 12 },
  );
});

test('stochastic rounding is unbiased: the mean of many draws is within 5 standard errors of w', () => {
  const draws = 20_000;
  fc.assert(
    fc.property(fc.double({ min: -1, max: 1, noNaN: true }), fc.integer({ min: 2, max: 8 }), fc.integer(), (w0, bits, seed) => {
      // One layer of `draws` copies of w plus the range-setting weight 1, so the step is 1 / (2^(bits-1) - 1).
      const w = f32(w0);
      const values = new Float32Array(draws + 1).fill(w);
      values[draws] = 1;
      const q = createQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits, rounding: 'stochastic' }));
      const out = q.apply([{ name: 'w', shape: [draws + 1], values }], new Rng(seed))[0];
      const step = 1 / (2 ** (bits - 1) - 1);
      const down = Math.floor(w / step) * step;
      let sum = 0;
      for (let i = 0; i < draws; i++) {
        // Only the two neighbours of w are ever drawn.
        assert.ok(Math.abs(out[i] - down) < 1e-6 || Math.abs(out[i] - (down + step)) < 1e-6, `${out[i]} is not a neighbour of ${w}`);
        sum += out[i];
      }
      // A draw's standard deviation is step·sqrt(p(1−p)) <= step/2.
      const tolerance = (5 * step) / 2 / Math.sqrt(draws);
      assert.ok(Math.abs(sum / draws - w) <= tolerance, `mean ${sum / draws} vs w ${w}, tolerance ${tolerance}`);
    }),
    { numRuns: 40 },
  );
});

test('the same generator state gives the same stochastic result; apply fills `out` in place', () => {
  const rng = new Rng(9);
  const values = Float32Array.from({ length: 1000 }, () => rng.normal() * 0.05);
  const layers = [{ name: 'w', shape: [10, 100], values }];
  const q = createQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 4, rounding: 'stochastic' }));
  q.fit(layers);
  const out = [new Float32Array(1000)];
  const a = q.apply(layers, new Rng(5), out);
  assert.equal(a, out);
  const copy = Float32Array.from(a[0]);
  assert.deepEqual(q.apply(layers, new Rng(5))[0], copy);
  assert.notDeepEqual(q.apply(layers, new Rng(6))[0], copy);
  assert.throws(() => q.apply(layers, new Rng(5), [new Float32Array(3)]), /out\[0\] has 3 values/);
});

test('bits = 32 is an identity check: error far below float32 precision', () => {
  const rng = new Rng(2);
  const values = Float32Array.from({ length: 5000 }, () => rng.normal() * 0.1);
  const layers = [{ name: 'w', shape: [5000], values }];
  for (const range of ['maxabs', 'pow2'] as const) {
    const q = createQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 32, range }));
    const out = q.apply(layers, new Rng(1));
    const err = q.error(layers, out);
    assert.ok(err.sqnrDb === null || err.sqnrDb > 150, `sqnr ${err.sqnrDb}`);
    assert.equal(err.saturated, 0);
  }
});

test('error(): MSE and SQNR of a hand-computed example', () => {
  // maxabs 2 bits: step = 1, codes -2..1; w = [1, 0.4, -0.6] → [1, 0, -1].
  const q = createQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 2 }));
  const layers = [{ name: 'w', shape: [3], values: Float32Array.of(1, 0.4, -0.6) }];
  const out = q.apply(layers, new Rng(1));
  assert.deepEqual(Array.from(out[0]), [1, 0, -1]);
  const e = q.error(layers, out);
  const noise = f32(0.4) ** 2 + (1 - f32(0.6)) ** 2;
  const signal = 1 + f32(0.4) ** 2 + f32(0.6) ** 2;
  assert.ok(Math.abs(e.mse - noise / 3) < 1e-12, `mse ${e.mse}`);
  assert.ok(Math.abs(e.sqnrDb! - 10 * Math.log10(signal / noise)) < 1e-9, `sqnr ${e.sqnrDb}`);
  assert.deepEqual(Object.keys(e.layers[0]).sort(), ['count', 'mse', 'name', 'saturated', 'sqnrDb', 'step']);
  assert.equal(e.layers[0].step, 1);
});
