import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FixedRepresentation } from '@quantlab/shared';
import { Rng } from '../services/ml/src/random.ts';
import { FixedPointQuantizer, createQuantizer, fixedStep } from '../services/ml/src/representations/index.ts';

const f32 = Math.fround;
/** Weights as training produces them: finite float32 values, some tiny, some large. */
const weights = (maxLength = 200) =>
  fc.float32Array({ min: f32(-8), max: f32(8), noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength });
const fixedRepr = fc.record({
  bits: fc.integer({ min: 2, max: 16 }),
  range: fc.constantFrom('pow2' as const, 'maxabs' as const),
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
      for (let i = 0; i < values.length; i++) {
        assert.ok(Number.isInteger(codes[i]) && codes[i] >= -qmax - 1 && codes[i] <= qmax, `code ${codes[i]}`);
        assert.equal(decoded[i], f32(codes[i] * step));
        // pow2 and maxabs both choose a range covering max|w|, so nothing saturates.
        assert.ok(Math.abs(values[i] - decoded[i]) <= step / 2 + storeTol(decoded[i]), `w=${values[i]} step=${step} got ${decoded[i]}`);
      }
      assert.equal(q.error(layers, enc.decoded).saturated, 0);
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

test('pow2 picks the smallest power of two whose range covers max|w|; maxabs maps max|w| to the top code', () => {
  fc.assert(
    fc.property(fc.double({ min: 1e-12, max: 1e6, noNaN: true }), fc.integer({ min: 2, max: 16 }), (max, bits) => {
      const qmax = 2 ** (bits - 1) - 1;
      const s = fixedStep(FixedRepresentation.parse({ kind: 'fixed', bits, range: 'pow2' }), max);
      assert.equal(Math.log2(s), Math.round(Math.log2(s)));
      assert.ok(qmax * s >= max && qmax * (s / 2) < max, `step ${s} for max ${max}`);
      assert.equal(fixedStep(FixedRepresentation.parse({ kind: 'fixed', bits }), max), max / qmax);
    }),
  );
  // Small weights get more fraction bits than total bits: 4 bits (top code 7), max|w| = 0.001 → step 2^-12.
  assert.equal(fixedStep(FixedRepresentation.parse({ kind: 'fixed', bits: 4, range: 'pow2' }), 0.001), 2 ** -12);
  // An all-zero layer is valid and stays zero.
  const q = createQuantizer(FixedRepresentation.parse({ kind: 'fixed', bits: 8 }));
  const zeros = [{ name: 'z', shape: [3], values: new Float32Array(3) }];
  assert.deepEqual(Array.from(q.apply(zeros, new Rng(1))[0]), [0, 0, 0]);
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
