// Bits per layer from a sensitivity table: greedy, never above the best uniform width's bytes, meets its target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AllocationError, PresetSweepRequest, allocateBits, keptLevel, narrowestKeeping, narrowestPassing, layerBytes, meanInterval95, planSweep, type SensitivityLayer } from '@quantlab/shared';

const SEEDS = [1, 2, 3];
/** A layer whose one-layer runs lost `drops[width]` (plus a per-seed wobble) of the relative accuracy. */
function layer(name: string, weights: number, drops: Record<number, number>, wobble = [0, 0, 0]): SensitivityLayer {
  return {
    name,
    weights,
    relative: new Map(Object.entries(drops).map(([w, d]) => [Number(w), new Map(SEEDS.map((s, i) => [s, 1 - d + wobble[i]]))])),
  };
}

/** Every combination of widths, by brute force: the fewest bytes whose predicted lower end meets the target. */
function optimum(layers: SensitivityLayer[], target: number): { widths: number[]; bytes: number } | null {
  let best: { widths: number[]; bytes: number } | null = null;
  const options = layers.map((l) => [...l.relative.keys(), 32]);
  const walk = (i: number, widths: number[]) => {
    if (i === layers.length) {
      const perSeed = SEEDS.map((s) => 1 - widths.reduce((a, w, l) => a + (w === 32 ? 0 : 1 - layers[l].relative.get(w)!.get(s)!), 0));
      const low = meanInterval95(perSeed)![0];
      const bytes = widths.reduce((a, w, l) => a + layerBytes('fixed', layers[l].weights, w), 0);
      if (low >= target && (!best || bytes < best.bytes)) best = { widths, bytes };
      return;
    }
    for (const w of options[i]) walk(i + 1, [...widths, w]);
  };
  walk(0, []);
  return best;
}

test('on a table with a known optimum the allocation is that optimum: the big insensitive layer narrowest, the small sensitive one widest', () => {
  const layers = [
    layer('conv', 10_000, { 2: 0.004, 4: 0.001, 8: 0 }, [0.0002, -0.0001, -0.0001]),
    layer('fc', 500, { 2: 0.03, 4: 0.002, 8: 0.0005 }, [0.0001, 0, -0.0001]),
    layer('out', 50, { 2: 0.2, 4: 0.01, 8: 0 }),
  ];
  const a = allocateBits({ kind: 'fixed', layers, seeds: SEEDS, target: 0.99 });
  assert.deepEqual(a.widths, { conv: 2, fc: 4, out: 8 });
  const best = optimum(layers, 0.99)!;
  assert.deepEqual(best.widths, [2, 4, 8], 'the brute-force optimum');
  assert.equal(a.bytes, best.bytes);
  assert.equal(a.bytes, 2500 + 8 + 250 + 8 + 50 + 8);
  assert.ok(a.predicted.low >= 0.99, `predicted lower end ${a.predicted.low}`);
  // Predicted per seed: 1 - (0.004 - wobble) - (0.002 - wobble); the mean is 0.994.
  assert.ok(Math.abs(a.predicted.mean - 0.994) < 1e-12);
  // The best uniform width (predicted: no uniform runs given) is 8 bits; the allocation is far below it.
  assert.deepEqual(a.bestUniform, { width: 8, bytes: 10_000 + 500 + 50 + 24, judged: 'predicted' });
  assert.equal(a.uniform, false);
});

test('a measured uniform width cheaper than the greedy allocation is the answer (never more bytes than the best uniform width)', () => {
  const layers = [layer('a', 1000, { 2: 0.02, 4: 0.004 }), layer('b', 1000, { 2: 0.02, 4: 0.004 })];
  const greedy = allocateBits({ kind: 'fixed', layers, seeds: SEEDS, target: 0.99 });
  // Predicted: both at 4 bits lose 0.008.
  assert.deepEqual(greedy.widths, { a: 4, b: 4 });
  assert.equal(greedy.uniform, true, 'the greedy result equals the uniform 4 bits: reported as uniform');
  // Measured, uniform 2 bits kept 99.2% (the losses did not add up): it caps the allocation.
  const capped = allocateBits({ kind: 'fixed', layers, seeds: SEEDS, target: 0.99, uniform: [{ width: 2, low: 0.992 }] });
  assert.deepEqual(capped.widths, { a: 2, b: 2 });
  assert.deepEqual(capped.bestUniform, { width: 2, bytes: 2 * (250 + 8), judged: 'measured' });
  assert.equal(capped.uniform, true);
});

test('a target no allocation can keep is refused with the reason', () => {
  const layers = [layer('a', 1000, { 2: 0.02, 4: 0.004 })];
  assert.throws(() => allocateBits({ kind: 'fixed', layers, seeds: SEEDS, target: 0.999 }), (e: Error) => e instanceof AllocationError && /no layer can be quantized/.test(e.message));
  assert.throws(() => allocateBits({ kind: 'fixed', layers, seeds: SEEDS, target: 1.01 }), AllocationError);
});

test('on random tables the allocation meets its target on the lower end and never costs more than the best uniform width', () => {
  const widths = [2, 3, 4, 6, 8];
  const tableArb = fc.array(
    fc.record({
      weights: fc.integer({ min: 1, max: 50_000 }),
      // Losses shrink with the width; each seed wobbles around them.
      base: fc.array(fc.double({ min: 0, max: 0.05, noNaN: true }), { minLength: widths.length, maxLength: widths.length }),
      wobble: fc.array(fc.double({ min: -0.003, max: 0.003, noNaN: true }), { minLength: 3, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 6 },
  );
  fc.assert(
    fc.property(tableArb, fc.constantFrom(0.9, 0.95, 0.98, 0.99), fc.constantFrom('fixed' as const, 'dictionary' as const), (table, target, kind) => {
      const layers = table.map((t, i) => {
        const sorted = [...t.base].sort((a, b) => b - a);
        return layer(`l${i}`, t.weights, Object.fromEntries(widths.map((w, k) => [w, sorted[k]])), t.wobble);
      });
      let a;
      try {
        a = allocateBits({ kind, layers, seeds: SEEDS, target });
      } catch (e) {
        assert.ok(e instanceof AllocationError);
        return;
      }
      assert.ok(a.predicted.low >= target - 1e-12, `lower end ${a.predicted.low} < ${target}`);
      const bytes = layers.reduce((s, l) => s + layerBytes(kind, l.weights, a.widths[l.name]), 0);
      assert.equal(a.bytes, bytes);
      if (a.bestUniform) assert.ok(a.bytes <= a.bestUniform.bytes, `${a.bytes} > uniform ${a.bestUniform.bytes}`);
    }),
    { numRuns: 300 },
  );
});

test('a layer that scored above its baseline (noise) loses nothing, and its gain does not pay for another layer', () => {
  const layers = [layer('a', 1000, { 2: -0.02 }), layer('b', 1000, { 2: 0.03 })];
  const a = allocateBits({ kind: 'fixed', layers, seeds: SEEDS, target: 0.98 });
  // Counting the gain, b at 2 bits would predict 0.99; without it 0.97 < 0.98.
  assert.deepEqual(a.widths, { a: 2, b: 32 });
  assert.equal(a.predicted.mean, 1);
});

test('the sensitivity preset: uniform widths in both phases, each layer alone in the inference phase, and in training only at trainWidths', () => {
  const plan = planSweep(PresetSweepRequest.parse({ preset: 'sensitivity', budget: 'small', base: { dataset: 'fashion-mnist' } }));
  // Per seed (1, 2, 3): a baseline, 6 widths x 2 phases uniform, 5 cnn5 layers x 6 widths alone (inference).
  assert.equal(plan.runs.length, 3 * (1 + 12 + 30));
  const oneLayer = plan.runs.filter((r) => r.series.includes('/layer:'));
  assert.ok(oneLayer.every((r) => r.config.phase === 'inference'));
  const conv2 = oneLayer.find((r) => r.series === 'fixed/pow2/nearest/inference/layer:conv2' && r.seed === 2)!;
  assert.deepEqual(conv2.config.representation, {
    kind: 'fixed',
    bits: 2,
    range: 'pow2',
    rounding: 'nearest',
    granularity: 'layer',
    bitsPerLayer: { conv1: 32, conv3: 32, fc1: 32, fc2: 32 },
  });
  assert.equal(conv2.config.name, 'sensitivity-small: fixed:2 conv2 only inference seed 2');
  assert.deepEqual([conv2.config.training.epochs, conv2.config.training.trainLimit, conv2.config.training.learningRate], [10, 6000, 0.01], "the paper's small recipe");
  const trained = planSweep(PresetSweepRequest.parse({ preset: 'sensitivity', budget: 'small', seeds: [1], trainWidths: [2, 4] }));
  assert.equal(trained.runs.filter((r) => r.series.includes('/training/layer:')).length, 5 * 2);
  const dictionary = planSweep(PresetSweepRequest.parse({ preset: 'sensitivity', budget: 'small', seeds: [1], representation: { kind: 'dictionary', init: 'nonuniform' }, widths: [1, 3] }));
  assert.ok(dictionary.runs.filter((r) => r.series.includes('/layer:')).every((r) => r.config.representation.kind === 'dictionary' && r.config.representation.scope === 'per-layer'));
  assert.equal(PresetSweepRequest.safeParse({ preset: 'paper', widths: [2] }).error?.issues[0].message, 'widths belongs to the "sensitivity" preset');
});

test('the best uniform width is judged on its own runs: a noisier wider width does not veto it (unlike the report\'s "fewest bits")', () => {
  const layers = [layer('a', 1000, { 2: 0.02, 3: 0.004, 4: 0.002, 6: 0 }), layer('b', 1000, { 2: 0.02, 3: 0.004, 4: 0.002, 6: 0 })];
  // As measured on Fashion-MNIST (docs/REPRODUCTION.md): 4 bits kept 99% on the lower end of its interval, 6 bits
  // (noisier over seeds) did not.
  const uniform = [
    { width: 2, low: 0.95 },
    { width: 3, low: 0.975 },
    { width: 4, low: 0.996 },
    { width: 6, low: 0.988 },
  ];
  const a = allocateBits({ kind: 'fixed', layers, seeds: SEEDS, target: 0.99, uniform });
  assert.deepEqual(a.bestUniform, { width: 4, bytes: 2 * (500 + 8), judged: 'measured' });
  assert.ok(a.bytes <= a.bestUniform!.bytes);
  const points = uniform.map((u) => ({ width: u.width, level: u.low }));
  assert.equal(narrowestPassing(points, 0.99), 4, 'the allocator: this width on its own');
  assert.equal(narrowestKeeping(points, 0.99), null, 'the report: every wider width too');
});

test('narrowestKeeping: the narrowest width from which on every width keeps the level; an unmeasured width breaks the run', () => {
  const at = (levels: Record<number, number | null>) => Object.entries(levels).map(([w, level]) => ({ width: Number(w), level }));
  assert.equal(narrowestKeeping(at({ 2: 0.9, 4: 0.995, 8: 0.999 }), 0.99), 4);
  assert.equal(narrowestKeeping(at({ 2: 0.995, 4: 0.98, 8: 0.999 }), 0.99), 8);
  assert.equal(narrowestKeeping(at({ 2: 0.995, 4: null, 8: 0.999 }), 0.99), 8);
  assert.equal(narrowestKeeping(at({ 2: 0.995, 8: 0.98 }), 0.99), null);
  assert.equal(narrowestKeeping([], 0.99), null);
  assert.equal(narrowestPassing(at({ 2: 0.995, 4: 0.98, 8: 0.999 }), 0.99), 2);
  assert.equal(narrowestPassing(at({ 2: 0.9, 4: null, 8: 0.98 }), 0.99), null);
  assert.equal(keptLevel({ mean: 0.99, min: 0.98, max: 1, ci95: { low: 0.97, high: 1.01 } }), 0.97);
  assert.equal(keptLevel({ mean: 0.99, min: 0.99, max: 0.99, ci95: null }), 0.99);
  assert.equal(keptLevel({ mean: null, min: null, max: null }), null);
});
