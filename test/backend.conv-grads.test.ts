// The wasm backend's composed convolution gradients against the cpu backend's reference kernels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, currentBackend, BackendError } from '@quantlab/ml/backend/index';
import { Rng } from '@quantlab/ml/random';
import { convBias } from '@quantlab/ml/models/ops';

function randomArray(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid';
}

const CASES: Case[] = [
  { name: '5x5 same', x: [3, 9, 9, 4], w: [5, 5, 4, 6], strides: 1, pad: 'same' },
  { name: '3x3 valid', x: [2, 8, 7, 3], w: [3, 3, 3, 5], strides: 1, pad: 'valid' },
  { name: '4x4 same (uneven padding)', x: [2, 6, 6, 2], w: [4, 4, 2, 3], strides: 1, pad: 'same' },
  { name: '3x3 stride 2 same', x: [2, 9, 9, 3], w: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { name: '3x3 stride 2 valid', x: [2, 10, 10, 2], w: [3, 3, 2, 4], strides: 2, pad: 'valid' },
  { name: '5x5 stride 2 same, odd size', x: [2, 11, 11, 3], w: [5, 5, 3, 4], strides: 2, pad: 'same' },
  { name: '3x3 stride 3 valid (trailing rows unused)', x: [2, 12, 11, 2], w: [3, 3, 2, 3], strides: 3, pad: 'valid' },
  { name: '4x4 stride 2 same (uneven padding)', x: [1, 10, 9, 2], w: [4, 4, 2, 3], strides: 2, pad: 'same' },
  { name: '3x3 strides [2, 1] same', x: [2, 9, 8, 3], w: [3, 3, 3, 2], strides: [2, 1], pad: 'same' },
];

function gradients(c: Case, x: Float32Array, w: Float32Array, dy: Float32Array): { dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const wt = tf.tensor4d(w, c.w);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad);
    const out = f(xt, wt);
    const dyt = tf.tensor(dy.subarray(0, out.size), out.shape);
    const [dx, dw] = tf.grads(f)([xt, wt], dyt);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

function relError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

for (const c of CASES) {
  test(`wasm conv gradients match cpu: ${c.name}`, async () => {
    const rng = new Rng(7);
    const x = randomArray(rng, c.x.reduce((p, v) => p * v, 1));
    const w = randomArray(rng, c.w.reduce((p, v) => p * v, 1));
    const dy = randomArray(rng, c.x[0] * c.x[1] * c.x[2] * c.w[3]);
    await initBackend('cpu');
    const ref = gradients(c, x, w, dy);
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const got = gradients(c, x, w, dy);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    assert.equal(got.dw.length, ref.dw.length);
    assert.ok(relError(got.dw, ref.dw) < 1e-5, `filter gradient rel error ${relError(got.dw, ref.dw)}`);
    assert.ok(relError(got.dx, ref.dx) < 1e-5, `input gradient rel error ${relError(got.dx, ref.dx)}`);
  });
}

function poolGrad(x: Float32Array, shape: [number, number, number, number], pad: 'same' | 'valid', dy: Float32Array): Float32Array {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, shape);
    const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 3, 2, pad);
    const out = f(xt);
    return tf.grad(f)(xt, tf.tensor(dy.subarray(0, out.size), out.shape)).dataSync() as Float32Array;
  });
}

for (const pad of ['same', 'valid'] as const) {
  test(`wasm max-pool gradient matches cpu (3x3 stride 2 ${pad})`, async () => {
    const rng = new Rng(11);
    const shape: [number, number, number, number] = [2, 9, 8, 5];
    const x = randomArray(rng, 2 * 9 * 8 * 5);
    const dy = randomArray(rng, 2 * 9 * 8 * 5);
    await initBackend('cpu');
    const ref = poolGrad(x, shape, pad, dy);
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const got = poolGrad(x, shape, pad, dy);
    assert.equal(tf.memory().numTensors, before);
    assert.ok(relError(got, ref) < 1e-6, `rel error ${relError(got, ref)}`);
  });
}

for (const pad of ['same', 'valid'] as const) {
  test(`wasm average-pool gradient is the exact gradient of the forward pool (3x3 stride 2 ${pad})`, async () => {
    await initBackend('wasm');
    const rng = new Rng(12);
    const shape: [number, number, number, number] = [2, 6, 5, 3];
    const x = randomArray(rng, 2 * 6 * 5 * 3);
    const pool = (a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, 3, 2, pad);
    const outShape = tf.tidy(() => pool(tf.tensor4d(x, shape)).shape);
    const w = randomArray(rng, outShape.reduce((p, v) => p * v, 1));
    // f(x) = sum(pool(x) * w) is linear in x, so f(x + e_i) - f(x) is its exact gradient.
    const f = (v: Float32Array) => tf.tidy(() => tf.sum(tf.mul(pool(tf.tensor4d(v, shape)), tf.tensor(w, outShape))).dataSync()[0]);
    const base = f(x);
    const numeric = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const e = Float32Array.from(x);
      e[i] += 1;
      numeric[i] = f(e) - base;
    }
    const before = tf.memory().numTensors;
    const got = tf.tidy(() => tf.grad(pool)(tf.tensor4d(x, shape), tf.tensor(w, outShape)).dataSync() as Float32Array);
    assert.equal(tf.memory().numTensors, before);
    assert.ok(relError(got, numeric) < 1e-4, `rel error ${relError(got, numeric)}`);
  });
}

test('convBias (fused forward, hand-written gradient) matches conv2d + add on cpu', async () => {
  const rng = new Rng(5);
  const x = randomArray(rng, 2 * 7 * 7 * 3);
  const k = randomArray(rng, 5 * 5 * 3 * 4);
  const b = randomArray(rng, 4);
  const run = (useOp: boolean) =>
    tf.tidy(() => {
      const xt = tf.tensor4d(x, [2, 7, 7, 3]);
      const f = (a: tf.Tensor, kk: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.square(useOp ? convBias(a as tf.Tensor4D, kk, bb) : tf.add(tf.conv2d(a as tf.Tensor4D, kk as tf.Tensor4D, 1, 'same'), bb)));
      return tf.grads(f)([xt, tf.tensor4d(k, [5, 5, 3, 4]), tf.tensor1d(b)]).map((g) => g.dataSync() as Float32Array);
    });
  await initBackend('cpu');
  const ref = run(false);
  for (const backend of ['cpu', 'wasm'] as const) {
    await initBackend(backend);
    const got = run(true);
    for (let i = 0; i < 3; i++) assert.ok(relError(got[i], ref[i]) < 1e-5, `${backend} grad ${i}: ${relError(got[i], ref[i])}`);
  }
});

test('wasm heap does not grow over repeated gradient calls: no intermediate is left in the backend', async () => {
  await initBackend('wasm');
  // Intermediates live in the backend's own table (tf.memory() only counts tensors the engine tracks): count that.
  const dataIds = () => tf.backend().numDataIds();
  for (const c of CASES) {
    const rng = new Rng(3);
    const x = randomArray(rng, c.x.reduce((p, v) => p * v, 1));
    const w = randomArray(rng, c.w.reduce((p, v) => p * v, 1));
    const dy = randomArray(rng, c.x[0] * c.x[1] * c.x[2] * c.w[3]);
    gradients(c, x, w, dy);
    const ids = dataIds();
    const bytes = tf.memory().numBytes;
    for (let i = 0; i < 5; i++) gradients(c, x, w, dy);
    assert.equal(dataIds(), ids, `${c.name}: backend data ids`);
    assert.equal(tf.memory().numBytes, bytes, `${c.name}: bytes`);
  }
});

test('TFJS_BACKEND=tensorflow without tfjs-node fails with a clear message', async (t) => {
  try {
    await initBackend('tensorflow');
    t.diagnostic('tfjs-node is installed here: the tensorflow backend loaded');
    assert.equal(tf.getBackend(), 'tensorflow');
  } catch (e) {
    assert.ok(e instanceof BackendError);
    assert.match((e as Error).message, /tfjs-node/);
  }
  assert.equal(await initBackend('auto'), currentBackend());
});
