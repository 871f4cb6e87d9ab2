// Learned dictionaries (update "gradient"): entries and scales trained by the gradients of the weights that use them.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentConfig, Representation } from '@quantlab/shared';
import { initBackend, trainExperiment } from '@quantlab/ml';
import { DictionaryLearner, DictionaryQuantizer, type LayerWeights } from '../services/ml/src/representations/index.ts';
import { Rng } from '../services/ml/src/random.ts';
import { TEST_BACKEND } from './helpers/backend.ts';

before(async () => {
  await initBackend(TEST_BACKEND);
});

/** Weights in two clusters (around -1 and +1) whose decoded values should reach targets -0.3 and 0.7. */
function toy(n: number): { layer: LayerWeights; target: Float32Array } {
  const rng = new Rng(7);
  const values = new Float32Array(n);
  const target = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const side = i % 2 === 0 ? -1 : 1;
    values[i] = side + 0.2 * (rng.next() - 0.5);
    target[i] = side < 0 ? -0.3 : 0.7;
  }
  return { layer: { name: 'toy/kernel', shape: [n], values }, target };
}

/** L = ½ Σ (ŵ - t)²: its gradient with respect to the decoded weights is ŵ - t. */
function lossAndGrad(decoded: Float32Array, target: Float32Array): { loss: number; grad: Float32Array } {
  const grad = new Float32Array(decoded.length);
  let loss = 0;
  for (let i = 0; i < decoded.length; i++) {
    grad[i] = decoded[i] - target[i];
    loss += 0.5 * grad[i] * grad[i];
  }
  return { loss, grad };
}

test('a two-entry dictionary moves its entries to the known optimum (the targets of its two clusters) under gradient', () => {
  const { layer, target } = toy(400);
  const q = new DictionaryQuantizer(Representation.parse({ kind: 'dictionary', bits: 1, scope: 'per-layer', update: 'gradient', refitEvery: 'never' }) as never);
  q.fit([layer]);
  // The fit (uniform init) puts the entries at the smallest and largest weight, ±1.1: far from the optimum.
  const first = q.parameters().dictionaries[0];
  assert.ok(Math.abs(first[0] + 1.1) < 0.01 && Math.abs(first[1] - 1.1) < 0.01, `fitted entries ${first}`);
  const learner = new DictionaryLearner(q);
  learner.reset();
  let previous = Infinity;
  for (let step = 0; step < 60; step++) {
    const { loss, grad } = lossAndGrad(q.deploy([layer])[0], target);
    assert.ok(loss <= previous + 1e-9, `the loss rose at step ${step}: ${previous} -> ${loss}`);
    previous = loss;
    // Without momentum each step closes 30% of the gap to the optimum (with it, heavy-ball overshoots and the loss
    // rises for a few steps before it settles).
    learner.step([layer], [grad], { lr: 0.3, momentum: 0 });
  }
  const [lo, hi] = q.parameters().dictionaries[0];
  assert.ok(Math.abs(lo - -0.3) < 1e-6, `entry 0 is ${lo}, the optimum -0.3`);
  assert.ok(Math.abs(hi - 0.7) < 1e-6, `entry 1 is ${hi}, the optimum 0.7`);
  // Scale 1 (per-layer scope, layer granularity) is not a parameter there.
  assert.deepEqual(Array.from(q.parameters().scales[0]), [1]);
});

test('a global dictionary trains its entries and per-layer scales: the toy loss falls to its optimum', () => {
  const a = toy(300);
  const b = toy(200);
  // Layer b is layer a at a quarter of the size, with targets at a quarter too: one dictionary fits both exactly.
  b.layer.values.forEach((v, i) => (b.layer.values[i] = v / 4));
  b.target.forEach((v, i) => (b.target[i] = v / 4));
  b.layer.name = 'b/kernel';
  const q = new DictionaryQuantizer(Representation.parse({ kind: 'dictionary', bits: 1, update: 'gradient', refitEvery: 'never' }) as never);
  const layers = [a.layer, b.layer];
  q.fit(layers);
  const learner = new DictionaryLearner(q);
  learner.reset();
  const total = () => {
    const d = q.deploy(layers);
    const ga = lossAndGrad(d[0], a.target);
    const gb = lossAndGrad(d[1], b.target);
    return { loss: ga.loss + gb.loss, grads: [ga.grad, gb.grad] };
  };
  const start = total().loss;
  for (let step = 0; step < 200; step++) learner.step(layers, total().grads, { lr: 0.2, momentum: 0.5 });
  const end = total().loss;
  assert.ok(start > 10, `start loss ${start}`);
  assert.ok(end < 1e-8 * start, `loss ${start} -> ${end}`);
  const [sa, sb] = q.parameters().scales.map((s) => s[0]);
  assert.ok(Math.abs(sa / sb - 4) < 1e-4, `scale ratio ${sa / sb}, expected 4`);
});

test('learner state restores exactly: a run resumed from its epoch-1 checkpoint ends with the same artifact', async () => {
  const config = ExperimentConfig.parse({
    dataset: 'mnist',
    model: 'mlp',
    representation: { kind: 'dictionary', bits: 2, update: 'gradient', refitEvery: 'never' },
    training: { epochs: 2, learningRate: 0.1, trainLimit: 300, testLimit: 200, seed: 3, schedule: 'constant' },
  });
  const checkpoints: Uint8Array[] = [];
  const whole = await trainExperiment({ config, dataDir: './data' }, { onEpoch: (_m, c) => void checkpoints.push(c) });
  assert.equal(whole.status, 'completed');
  const checkpoint = checkpoints[0];
  const headerLength = new DataView(checkpoint.buffer, checkpoint.byteOffset).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(checkpoint.subarray(12, 12 + headerLength)));
  assert.equal(header.learnedDictionary.entries[0].length, 4, 'the checkpoint carries the 4 trained entries');
  const resumed = await trainExperiment({ config, dataDir: './data', resumeFrom: checkpoint });
  assert.equal(resumed.status, 'completed');
  assert.deepEqual(Buffer.from(resumed.artifact!), Buffer.from(whole.artifact!));
  assert.equal(resumed.metrics.testAccuracy, whole.metrics.testAccuracy);
});

test('update "gradient" is refused where it cannot train: with refitEvery "step", and in the inference phase', () => {
  const r = Representation.safeParse({ kind: 'dictionary', bits: 2, update: 'gradient', refitEvery: 'step' });
  assert.equal(r.success, false);
  assert.match(r.error!.issues[0].message, /refit every step leaves nothing to train/);
  const never = Representation.safeParse({ kind: 'dictionary', bits: 2, refitEvery: 'never' });
  assert.match(never.error!.issues[0].message, /needs update "gradient"/);
  const c = ExperimentConfig.safeParse({ dataset: 'mnist', phase: 'inference', representation: { kind: 'dictionary', bits: 2, update: 'gradient' } });
  assert.equal(c.success, false);
  assert.deepEqual(c.error!.issues[0].path, ['representation', 'update']);
});
