// The oneDNN kernels (wasm+onednn) against the cpu backend's reference kernels, their fallbacks, and their memory.
// Without the addon these tests skip with the reason, except where QUANTLAB_REQUIRE_NATIVE=1 (CI), where they fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadNative } from '@quantlab/native';
import { selectBackend, BackendError, NATIVE_BACKEND, currentBackend } from '@quantlab/ml/backend/index';
import { fallbacks } from '@quantlab/ml/kernels/native/common';
import { conv2DFilterBiasGrad } from '@quantlab/ml/kernels/wasm/conv2d-backprop-filter-bias';
import { Rng } from '@quantlab/ml/random';
import { quantizeDictionary } from '@quantlab/ml/representations/dictionary';
import { midpoints } from '@quantlab/ml/representations/dictionary-fit';
import { createQuantizer } from '@quantlab/ml/representations/index';
import { DictionaryRepresentation } from '@quantlab/shared';

const native = loadNative();
const skip = native.kernels || process.env.QUANTLAB_REQUIRE_NATIVE === '1' ? false : `the oneDNN addon is absent: ${native.reason}`;

function randomArray(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

function relError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'lengths');
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { name: '5x5 same, batch 1', x: [1, 9, 9, 4], w: [5, 5, 4, 6], strides: 1, pad: 'same' },
  { name: '5x5 same, batch 100', x: [100, 6, 6, 4], w: [5, 5, 4, 4], strides: 1, pad: 'same' },
  { name: '3x3 valid', x: [2, 8, 7, 3], w: [3, 3, 3, 5], strides: 1, pad: 'valid' },
  { name: '4x4 same (uneven padding)', x: [2, 6, 6, 2], w: [4, 4, 2, 3], strides: 1, pad: 'same' },
  { name: '3x3 stride 2 same', x: [2, 9, 9, 3], w: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { name: '5x5 stride 2 same, odd size', x: [2, 11, 11, 3], w: [5, 5, 3, 4], strides: 2, pad: 'same' },
  { name: '3x3 stride 3 valid (trailing rows unused)', x: [2, 12, 11, 2], w: [3, 3, 2, 3], strides: 3, pad: 'valid' },
  { name: '4x4 stride 2 same (uneven padding)', x: [1, 10, 9, 2], w: [4, 4, 2, 3], strides: 2, pad: 'same' },
  { name: '3x3 strides [2, 1] same, batch 100', x: [100, 5, 4, 3], w: [3, 3, 3, 2], strides: [2, 1], pad: 'same' },
  { name: '3x3 explicit uneven padding', x: [2, 7, 7, 3], w: [3, 3, 3, 4], strides: 1, pad: [[0, 0], [0, 2], [1, 0], [0, 0]] },
];

/** Forward (fused bias + ReLU), dx, dW and dBias of one convolution on the active backend. */
function convAll(c: Case, x: Float32Array, w: Float32Array, b: Float32Array, dy: Float32Array): Float32Array[] {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const wt = tf.tensor4d(w, c.w);
    const y = tf.fused.conv2d({ x: xt, filter: wt, bias: tf.tensor1d(b), strides: c.strides, pad: c.pad, activation: 'relu' });
    const plain = tf.conv2d(xt, wt, c.strides, c.pad);
    const dyt = tf.tensor(dy.subarray(0, plain.size), plain.shape);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' as const, dimRoundingMode: undefined };
    const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, { ...attrs, inputShape: c.x } as never) as tf.Tensor;
    const [dw, db] = conv2DFilterBiasGrad(xt, dyt, { ...attrs, filterShape: c.w });
    const dwOnly = tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, { ...attrs, filterShape: c.w } as never) as tf.Tensor;
    return [y, plain, dx, dw, db, dwOnly].map((t) => t.dataSync() as Float32Array);
  });
}

function inputs(c: Case, seed: number) {
  const rng = new Rng(seed);
  const n = (s: number[]) => s.reduce((p, v) => p * v, 1);
  return { x: randomArray(rng, n(c.x)), w: randomArray(rng, n(c.w)), b: randomArray(rng, c.w[3]), dy: randomArray(rng, c.x[0] * c.x[1] * c.x[2] * c.w[3]) };
}

const NAMES = ['fused forward', 'forward', 'input gradient', 'filter gradient (with bias)', 'bias gradient', 'filter gradient'];

for (const c of CASES) {
  test(`native conv kernels match cpu: ${c.name}`, { skip }, async () => {
    const { x, w, b, dy } = inputs(c, 7);
    await selectBackend('cpu');
    const ref = convAll(c, x, w, b, dy);
    assert.equal(await selectBackend('native').then((s) => s.name), NATIVE_BACKEND);
    const before = tf.memory().numTensors;
    const refused = fallbacks.count;
    const got = convAll(c, x, w, b, dy);
    assert.equal(fallbacks.count, refused, 'oneDNN took every call');
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    for (let i = 0; i < ref.length; i++) assert.ok(relError(got[i], ref[i]) < 1e-5, `${NAMES[i]}: rel error ${relError(got[i], ref[i])}`);
  });
}

test('native conv kernels stay correct after the wasm heap has grown (views are taken per call)', { skip }, async () => {
  const c = CASES[1];
  const { x, w, b, dy } = inputs(c, 9);
  await selectBackend('cpu');
  const ref = convAll(c, x, w, b, dy);
  await selectBackend('native');
  convAll(c, x, w, b, dy); // primitives created before the growth
  const backend = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } };
  const heapBefore = backend.wasm.HEAPU8.buffer;
  const big = tf.zeros([backend.wasm.HEAPU8.byteLength / 4 + 1024]);
  assert.notEqual(backend.wasm.HEAPU8.buffer, heapBefore, 'the heap grew (a new buffer)');
  const got = convAll(c, x, w, b, dy);
  big.dispose();
  for (let i = 0; i < ref.length; i++) assert.ok(relError(got[i], ref[i]) < 1e-5, `${NAMES[i]}: rel error ${relError(got[i], ref[i])}`);
});

interface MatCase {
  name: string;
  a: number[];
  b: number[];
  ta: boolean;
  tb: boolean;
}
const MATS: MatCase[] = [
  { name: 'fc1 of cnn5 (100x1024 by 1024x64)', a: [100, 1024], b: [1024, 64], ta: false, tb: false },
  { name: 'dW (a transposed)', a: [100, 64], b: [100, 10], ta: true, tb: false },
  { name: 'dx (b transposed)', a: [100, 10], b: [64, 10], ta: false, tb: true },
  { name: 'both transposed, batch 1', a: [7, 1], b: [5, 7], ta: true, tb: true },
  { name: 'batched 3-D', a: [3, 4, 6], b: [3, 6, 5], ta: false, tb: false },
];

for (const m of MATS) {
  test(`native matmul kernels match cpu: ${m.name}`, { skip }, async () => {
    const rng = new Rng(13);
    const a = randomArray(rng, m.a.reduce((p, v) => p * v, 1));
    const b = randomArray(rng, m.b.reduce((p, v) => p * v, 1));
    const n = m.tb ? m.b[m.b.length - 2] : m.b[m.b.length - 1];
    const bias = randomArray(rng, n);
    const run = () =>
      tf.tidy(() => {
        const at = tf.tensor(a, m.a);
        const bt = tf.tensor(b, m.b);
        const plain = tf.matMul(at, bt, m.ta, m.tb);
        const fused = tf.fused.matMul({ a: at, b: bt, transposeA: m.ta, transposeB: m.tb, bias: tf.tensor1d(bias), activation: 'relu' });
        return [plain, fused].map((t) => t.dataSync() as Float32Array);
      });
    await selectBackend('cpu');
    const ref = run();
    await selectBackend('native');
    const refused = fallbacks.count;
    const before = tf.memory().numTensors;
    const got = run();
    assert.equal(fallbacks.count, refused, 'oneDNN took every call');
    assert.equal(tf.memory().numTensors, before);
    assert.ok(relError(got[0], ref[0]) < 1e-5, `matMul: ${relError(got[0], ref[0])}`);
    assert.ok(relError(got[1], ref[1]) < 1e-5, `fused matMul: ${relError(got[1], ref[1])}`);
  });
}

interface PoolCase {
  name: string;
  x: [number, number, number, number];
  k: number | [number, number];
  s: number | [number, number];
  pad: 'same' | 'valid';
}
const POOLS: PoolCase[] = [
  { name: "cnn5's first pool, 3x3 stride 2 same, batch 100", x: [100, 32, 32, 8], k: 3, s: 2, pad: 'same' },
  { name: '3x3 stride 2 same, odd size, batch 1', x: [1, 9, 7, 3], k: 3, s: 2, pad: 'same' },
  { name: '3x3 stride 2 valid', x: [2, 9, 8, 3], k: 3, s: 2, pad: 'valid' },
  { name: '2x2 stride 2 same (no padding)', x: [2, 8, 8, 4], k: 2, s: 2, pad: 'same' },
  { name: '3x3 stride 1 same (overlapping windows, padding on both sides)', x: [2, 6, 5, 2], k: 3, s: 1, pad: 'same' },
  { name: '4x2 strides [2, 1] same (uneven padding)', x: [3, 7, 6, 5], k: [4, 2], s: [2, 1], pad: 'same' },
];

/** The max- and average-pool gradients of `dy` on the active backend (forward on the backend's own kernels). */
function poolGrads(c: PoolCase, x: Float32Array, dy: Float32Array): Float32Array[] {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const max = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad);
    const avg = (a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, c.k, c.s, c.pad);
    const shape = max(xt).shape;
    const dyt = tf.tensor(dy.subarray(0, shape.reduce((p, v) => p * v, 1)), shape);
    return [tf.grad(max)(xt, dyt), tf.grad(avg)(xt, dyt)].map((t) => t.dataSync() as Float32Array);
  });
}

for (const c of POOLS) {
  test(`native pooling gradients: ${c.name} (max against cpu, average against the exact wasm kernel)`, { skip }, async () => {
    const rng = new Rng(21);
    const x = randomArray(rng, c.x.reduce((p, v) => p * v, 1));
    const dy = randomArray(rng, x.length);
    await selectBackend('cpu');
    const [maxRef] = poolGrads(c, x, dy);
    // cpu's average-pool gradient divides border windows by the full window; the wasm kernel's is the exact one
    // (test/backend.conv-grads.test.ts checks it against finite differences).
    await selectBackend('wasm');
    const [, avgRef] = poolGrads(c, x, dy);
    await selectBackend('native');
    const refused = fallbacks.count;
    const before = tf.memory().numTensors;
    const [maxGot, avgGot] = poolGrads(c, x, dy);
    assert.equal(fallbacks.count, refused, 'oneDNN took every call');
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    assert.ok(relError(maxGot, maxRef) < 1e-5, `max-pool gradient: rel error ${relError(maxGot, maxRef)}`);
    assert.ok(relError(avgGot, avgRef) < 1e-5, `average-pool gradient: rel error ${relError(avgGot, avgRef)}`);
    // Computed by oneDNN, not handed to wasm up front: the addon made a max and an average primitive of this shape.
    const made = native.kernels!.implementations().filter((l) => l.startsWith(`pool_bwd,${c.x.join(',')},`) && !l.includes('forward for the workspace'));
    assert.deepEqual(made.map((l) => l.split(' -> ')[0].split(',').at(-1)).sort(), ['0', '1']);
  });
}

test('native pooling gradients: ties go to the first maximum of a window, as on cpu', { skip }, async () => {
  // Integers in a small range: most windows hold their maximum more than once.
  const c: PoolCase = { name: 'ties', x: [2, 7, 7, 3], k: 3, s: 2, pad: 'same' };
  const rng = new Rng(5);
  const x = Float32Array.from({ length: 2 * 7 * 7 * 3 }, () => Math.floor(rng.next() * 3));
  const dy = randomArray(rng, x.length);
  await selectBackend('cpu');
  const [ref] = poolGrads(c, x, dy);
  await selectBackend('native');
  const [got] = poolGrads(c, x, dy);
  assert.deepEqual(got, ref);
});

test('native pooling gradients stay correct after the heap grew, and leak neither tensors nor heap', { skip }, async () => {
  const c = POOLS[1];
  const rng = new Rng(8);
  const x = randomArray(rng, c.x.reduce((p, v) => p * v, 1));
  const dy = randomArray(rng, x.length);
  await selectBackend('native');
  const ref = poolGrads(c, x, dy); // primitives created before the growth
  const backend = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } };
  const heapBefore = backend.wasm.HEAPU8.buffer;
  const big = tf.zeros([backend.wasm.HEAPU8.byteLength / 4 + 1024]);
  assert.notEqual(backend.wasm.HEAPU8.buffer, heapBefore, 'the heap grew (a new buffer)');
  const got = poolGrads(c, x, dy);
  big.dispose();
  assert.deepEqual(got, ref);
  const ids = tf.backend().numDataIds();
  const bytes = tf.memory().numBytes;
  const heap = backend.wasm.HEAPU8.byteLength;
  for (let i = 0; i < 5; i++) poolGrads(c, x, dy);
  assert.equal(tf.backend().numDataIds(), ids, 'backend data ids');
  assert.equal(tf.memory().numBytes, bytes, 'bytes');
  assert.equal(backend.wasm.HEAPU8.byteLength, heap, 'heap size');
});

test('a pooling geometry oneDNN has no equivalent for goes to the wasm kernel without asking the addon', { skip }, async () => {
  // An explicit padding with 'ceil' rounding: TF.js's output is one row longer than oneDNN's size rule allows.
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 6 * 6 * 2 }, (_, i) => Math.sin(i)), [2, 6, 6, 2]);
  const attrs = { filterSize: 3, strides: 2, pad: 1, dimRoundingMode: 'ceil' };
  const run = () =>
    tf.tidy(() => {
      const dy = tf.onesLike(tf.engine().runKernel('MaxPool', { x }, attrs as never) as tf.Tensor);
      return [
        (tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: x }, attrs as never) as tf.Tensor).dataSync() as Float32Array,
        (tf.engine().runKernel('AvgPoolGrad', { dy, input: x }, attrs as never) as tf.Tensor).dataSync() as Float32Array,
      ];
    });
  await selectBackend('wasm');
  const plain = run();
  await selectBackend('native');
  const refused = fallbacks.count;
  const viaNative = run();
  assert.equal(fallbacks.count, refused, 'not an addon error: the wasm kernel was chosen up front');
  assert.deepEqual(viaNative, plain);
  x.dispose();
});

/** Differing positions of two float32 arrays, compared bit for bit (Object.is: -0 and NaN count). */
function bitDiffs(a: Float32Array, b: Float32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) out.push(i);
  return out;
}

/** Weights with the awkward cases: values on the grid and half-way between, beyond it, zeros of both signs, NaN, infinities. */
function awkwardWeights(rng: Rng, steps: Float64Array, bits: number): Float32Array {
  const v: number[] = Array.from({ length: 20_000 }, () => rng.normal() * 0.05);
  for (let k = -(2 ** (bits - 1)) - 3; k < 2 ** (bits - 1) + 3 && v.length < 40_000; k++) for (const s of steps) v.push((k + 0.5) * s, k * s, (k - 0.5) * s);
  v.push(0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38);
  return Float32Array.from(v);
}

test('the addon encodes with a dictionary bit for bit as the JS function does', { skip }, () => {
  const k = native.kernels!;
  const rng = new Rng(37);
  for (const bits of [1, 2, 4, 8]) {
    const size = 2 ** bits;
    const entries = Float32Array.from({ length: size }, () => Math.sign(rng.normal()) * rng.next() ** 2 * 0.2).sort();
    const mids = midpoints(entries);
    const scales = Float64Array.from([1, 0.37, 2.5]);
    const src = Float32Array.from([...awkwardWeights(rng, Float64Array.from([0.01]), 4), ...Array.from(mids).flatMap((m) => [m, m * 0.37, m * 2.5])]);
    const js = new Float32Array(src.length);
    const addon = new Float32Array(src.length);
    quantizeDictionary(src, entries, mids, scales, js, null);
    k.quantizeDictionary(src, entries, mids, scales, addon);
    assert.deepEqual(bitDiffs(addon, js), [], `${bits} bits`);
  }
  assert.throws(() => k.quantizeDictionary(new Float32Array(4), new Float32Array(3), new Float64Array(2), new Float64Array(1), new Float32Array(4)), /quantizeDictionary: entries must be a power of two/);
});

test('dictionary quantizers give the same weights with the native kernels on and off (cnn5-sized layers)', { skip }, async () => {
  const rng = new Rng(41);
  const layers = [[5, 5, 3, 32], [5, 5, 32, 32], [5, 5, 32, 64], [1024, 64], [64, 10]].map((shape, i) => ({
    name: `l${i}`,
    shape,
    values: randomArray(rng, shape.reduce((p, v) => p * v, 1)).map((x) => x * 0.05),
  }));
  const reprs = [
    DictionaryRepresentation.parse({ kind: 'dictionary', bits: 8 }),
    DictionaryRepresentation.parse({ kind: 'dictionary', bits: 4, scope: 'per-layer' }),
  ];
  for (const r of reprs) {
    const run = async (backend: 'wasm' | 'native') => {
      await selectBackend(backend);
      const q = createQuantizer(r);
      q.fit(layers);
      return q.apply(layers, new Rng(1));
    };
    const plain = await run('wasm');
    const viaAddon = await run('native');
    plain.forEach((p, i) => assert.deepEqual(bitDiffs(viaAddon[i], p), [], `${JSON.stringify(r)} layer ${i}`));
  }
});

test('what oneDNN does not cover goes to the wasm kernel', { skip }, async () => {
  const c: Case = { name: 'ceil', x: [1, 6, 6, 2], w: [3, 3, 2, 2], strides: 2, pad: 'valid' };
  const { x, w } = inputs(c, 3);
  await selectBackend('native');
  // 'ceil' rounding with an explicit padding has no oneDNN equivalent (the output is one row longer than its formula):
  // the addon refuses it and the wasm kernel computes it. (Its values are not compared: TF.js's own wasm Conv2D
  // reads uninitialised memory for this case, which is why it is only reachable through runKernel.)
  const refused = fallbacks.count;
  const shape = tf.tidy(() => (tf.engine().runKernel('Conv2D', { x: tf.tensor4d(x, c.x), filter: tf.tensor4d(w, c.w) }, { strides: 2, pad: 1, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: 'ceil' } as never) as tf.Tensor).shape);
  assert.equal(fallbacks.count, refused + 1, 'the addon refused the call and the wasm kernel took it');
  assert.deepEqual(shape, [1, 4, 4, 2]);
  // A prelu activation is not one of ours: the wasm kernel takes it without asking the addon, with wasm's result.
  const preluRun = () =>
    tf.tidy(() => tf.fused.conv2d({ x: tf.tensor4d(x, c.x), filter: tf.tensor4d(w, c.w), strides: 1, pad: 'same', activation: 'prelu', preluActivationWeights: tf.scalar(0.1) }).dataSync() as Float32Array);
  const viaNative = preluRun();
  assert.equal(fallbacks.count, refused + 1, 'the addon was not asked');
  await selectBackend('wasm');
  const plain = preluRun();
  assert.ok(relError(viaNative, plain) === 0, `prelu: ${relError(viaNative, plain)}`);
});

test('the addon rejects bad geometry and out-of-heap tensors with an error naming the op, never a crash', { skip }, async () => {
  await selectBackend('native');
  const k = native.kernels!;
  const heap = new Uint8Array(4096);
  const g = Int32Array.from([1, 4, 4, 1, 1, 3, 3, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.throws(() => k.convForward(heap, 0, 1024, -1, 1 << 20, g, false), /oneDNN Conv2D: output lies outside the wasm heap/);
  assert.throws(() => k.convForward(heap, 0, 1024, -1, 2048, Int32Array.from([1, 4, 4, 1, 1, 3, 3, 4, 4, 1, 1, 1, 1, 1, 1, 1, 0]), false), /Conv2D: convolution dimensions must be positive/);
  // Consistent sizes oneDNN itself refuses (the output is larger than the padding allows).
  assert.throws(() => k.convBackwardData(heap, 0, 1024, 2048, Int32Array.from([1, 4, 4, 1, 1, 3, 3, 9, 9, 1, 1, 0, 0, 0, 0, 1, 1])), /oneDNN Conv2DBackpropInput/);
  assert.throws(() => k.matmul(heap, 0, 64, -1, 3, Int32Array.from([1, 2, 2, 2, 0, 0]), false), /MatMul: c lies outside the wasm heap/);
  const pool = Int32Array.from([1, 4, 4, 1, 2, 2, 3, 3, 2, 2, 0, 0, 1, 1]);
  assert.throws(() => k.poolBackward(heap, 0, 1024, 1 << 20, pool, true), /oneDNN MaxPoolGrad: dx lies outside the wasm heap/);
  assert.throws(() => k.poolBackward(heap, -1, 1024, 2048, pool, true), /MaxPoolGrad: max pooling's gradient needs its input/);
  assert.throws(() => k.poolBackward(heap, -1, 1024, 2048, Int32Array.from([1, 4, 4, 1, 2, 2, 3, 3, 0, 2, 0, 0, 1, 1]), false), /AvgPoolGrad: pooling dimensions must be positive/);
  // Sizes oneDNN itself refuses (an output larger than the padding allows).
  assert.throws(() => k.poolBackward(heap, -1, 1024, 2048, Int32Array.from([1, 4, 4, 1, 5, 5, 3, 3, 1, 1, 0, 0, 0, 0]), false), /oneDNN AvgPoolGrad/);
  assert.throws(() => k.setThreads(0), /positive integer/);
});

test('wasm heap and tensors do not grow over repeated native calls', { skip }, async () => {
  await selectBackend('native');
  const ids = () => tf.backend().numDataIds();
  for (const c of CASES.slice(0, 4)) {
    const { x, w, b, dy } = inputs(c, 3);
    convAll(c, x, w, b, dy);
    const n = ids();
    const bytes = tf.memory().numBytes;
    const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.byteLength;
    for (let i = 0; i < 5; i++) convAll(c, x, w, b, dy);
    assert.equal(ids(), n, `${c.name}: backend data ids`);
    assert.equal(tf.memory().numBytes, bytes, `${c.name}: bytes`);
    assert.equal((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.byteLength, heap, `${c.name}: heap size`);
  }
});

test('backend choice: native names wasm+onednn, wasm is plain wasm, and each says why', async () => {
  const plain = await selectBackend('wasm');
  assert.deepEqual(plain, { name: 'wasm', reason: 'TFJS_BACKEND=wasm asks for plain wasm' + plain.reason.slice('TFJS_BACKEND=wasm asks for plain wasm'.length) });
  assert.equal(currentBackend(), 'wasm');
  if (native.kernels) {
    const s = await selectBackend('native', { threads: 2 });
    assert.equal(s.name, NATIVE_BACKEND);
    assert.match(s.reason, /oneDNN \d+\.\d+\.\d+ kernels, 2 threads/);
    assert.equal(currentBackend(), NATIVE_BACKEND);
    await selectBackend('native', { threads: 1 });
    await assert.rejects(selectBackend('native', { threads: 0 }), BackendError);
  } else {
    await assert.rejects(selectBackend('native'), (e: Error) => e instanceof BackendError && /^TFJS_BACKEND=native: /.test(e.message));
  }
  await selectBackend('wasm');
});
