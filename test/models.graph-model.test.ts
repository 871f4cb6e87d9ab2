// The graph interpreter (ml/models/graph-model.ts): a graph of cnn5 computes cnn5's logits, TF.js's own layers agree
// with every op, gradients reach every trainable weight, BatchNorm reports its moments in 'state' order, Dropout
// draws reproducibly from the project's Rng, and nothing leaks tensors.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, buildModel, Rng } from '@quantlab/ml';
import { graphModel, GraphError, initWeights, type ModelGraph, type ParamSpec } from '@quantlab/ml/models/index';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';

before(async () => {
  assert.equal(await initBackend(TEST_BACKEND), TEST_BACKEND_NAME);
});

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const randomTensor = (shape: number[], rng: Rng, scale = 1) => {
  const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) v[i] = rng.normal() * scale;
  return tf.tensor(v, shape);
};

/** cnn5 (models/cnn5.ts) written as a graph over cnn5's own params. */
function cnn5Graph(): ModelGraph {
  const conv = (name: string, input: string) => ({ op: 'conv2d' as const, name, input, kernel: `${name}/kernel`, bias: `${name}/bias`, strides: [1, 1] as [number, number], padding: 'same' as const });
  const pool = (op: 'maxPool' | 'avgPool', name: string, input: string) => ({ op, name, input, size: [3, 3] as [number, number], strides: [2, 2] as [number, number], padding: 'same' as const });
  return {
    input: { name: 'image', shape: [28, 28, 1] },
    nodes: [
      conv('conv1', 'image'),
      pool('maxPool', 'pool1', 'conv1'),
      { op: 'activation', name: 'relu1', input: 'pool1', activation: 'relu' },
      { ...conv('conv2', 'relu1'), activation: 'relu' },
      pool('avgPool', 'pool2', 'conv2'),
      { ...conv('conv3', 'pool2'), activation: 'relu' },
      pool('avgPool', 'pool3', 'conv3'),
      { op: 'flatten', name: 'flat', input: 'pool3' },
      { op: 'dense', name: 'fc1', input: 'flat', kernel: 'fc1/kernel', bias: 'fc1/bias' },
      { op: 'dense', name: 'fc2', input: 'fc1', kernel: 'fc2/kernel', bias: 'fc2/bias' },
    ],
    output: 'fc2',
  };
}

test('a graph of cnn5 over its params gives cnn5 forward pass logits, and the same gradients', () => {
  const cnn5 = buildModel('cnn5', [28, 28, 1], 10);
  const g = graphModel(cnn5Graph(), cnn5.params, 10, 'cnn5-graph');
  assert.equal(g.graph?.output, 'fc2');
  assert.deepEqual(g.inputShape, [28, 28, 1]);
  const start = tf.memory().numTensors;
  const rng = new Rng(3);
  const weights = initWeights(cnn5, rng).map((a, i) => tf.tensor(a, cnn5.params[i].shape));
  // Non-zero biases, so a missing bias would show.
  const biased = tf.tidy(() => weights.map((t, i) => (cnn5.params[i].kind === 'bias' ? tf.add(t, randomTensor(t.shape, rng, 0.1)) : t.clone())));
  const x = randomTensor([4, 28, 28, 1], rng) as tf.Tensor4D;
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([1, 2, 3, 4], 'int32'), 10));
  const lossOf = (m: typeof g) => (...ws: tf.Tensor[]) => tf.losses.softmaxCrossEntropy(labels, m.forward(ws, x)) as tf.Scalar;
  const a = tf.tidy(() => cnn5.forward(biased, x));
  const b = tf.tidy(() => g.forward(biased, x));
  assert.ok(maxAbsDiff(a, b) < 1e-5, `logits differ by ${maxAbsDiff(a, b)}`);
  const ga = tf.valueAndGrads(lossOf(cnn5))(biased);
  const gb = tf.valueAndGrads(lossOf(g))(biased);
  assert.equal(gb.grads.length, cnn5.params.length);
  gb.grads.forEach((grad, i) => {
    const scale = tf.tidy(() => tf.max(tf.abs(ga.grads[i])).dataSync()[0]);
    assert.ok(scale > 0, `gradient of ${cnn5.params[i].name} is not zero`);
    assert.ok(maxAbsDiff(grad, ga.grads[i]) <= 1e-4 * scale, `gradient of ${cnn5.params[i].name}`);
  });
  tf.dispose([a, b, ga.value, gb.value, ...ga.grads, ...gb.grads, ...weights, ...biased, x, labels]);
  assert.equal(tf.memory().numTensors, start, 'no tensor leaks');
});

/** Every op the interpreter knows, in one graph, and the same network built with TF.js's layers API. */
function everyOp(): { graph: ModelGraph; params: ParamSpec[]; layers: tf.LayersModel } {
  const params: ParamSpec[] = [
    { name: 'c1/kernel', shape: [3, 3, 2, 4], kind: 'kernel', fanIn: 18 },
    { name: 'c1/bias', shape: [4], kind: 'bias', fanIn: 18 },
    { name: 'bn/gamma', shape: [4], kind: 'scale', fanIn: 4, init: 1 },
    { name: 'bn/beta', shape: [4], kind: 'bias', fanIn: 4 },
    { name: 'bn/mean', shape: [4], kind: 'state', fanIn: 4 },
    { name: 'bn/variance', shape: [4], kind: 'state', fanIn: 4, init: 1 },
    { name: 'dw/kernel', shape: [3, 3, 4, 2], kind: 'kernel', fanIn: 9 },
    { name: 'dw/bias', shape: [8], kind: 'bias', fanIn: 9 },
    { name: 'c2/kernel', shape: [1, 1, 4, 8], kind: 'kernel', fanIn: 4 },
    { name: 'c3/kernel', shape: [3, 3, 16, 6], kind: 'kernel', fanIn: 144 },
    { name: 'c3/bias', shape: [6], kind: 'bias', fanIn: 144 },
    { name: 'bn2/gamma', shape: [144], kind: 'scale', fanIn: 24, init: 1 },
    { name: 'bn2/beta', shape: [144], kind: 'bias', fanIn: 24 },
    { name: 'bn2/mean', shape: [144], kind: 'state', fanIn: 24 },
    { name: 'bn2/variance', shape: [144], kind: 'state', fanIn: 24, init: 1 },
    { name: 'fc/kernel', shape: [144 + 6, 3], kind: 'kernel', fanIn: 150 },
    { name: 'fc/bias', shape: [3], kind: 'bias', fanIn: 150 },
  ];
  const graph: ModelGraph = {
    input: { name: 'x', shape: [9, 9, 2] },
    nodes: [
      { op: 'conv2d', name: 'c1', input: 'x', kernel: 'c1/kernel', bias: 'c1/bias', strides: [1, 1], padding: 'same' },
      { op: 'batchNorm', name: 'bn', input: 'c1', gamma: 'bn/gamma', beta: 'bn/beta', mean: 'bn/mean', variance: 'bn/variance', epsilon: 0.001 },
      { op: 'activation', name: 'r', input: 'bn', activation: 'relu6' },
      { op: 'conv2d', name: 'dw', input: 'r', kernel: 'dw/kernel', bias: 'dw/bias', strides: [2, 2], padding: 'same', depthwise: true, activation: 'tanh' },
      { op: 'maxPool', name: 'mp', input: 'r', size: [2, 2], strides: [2, 2], padding: 'same' },
      { op: 'conv2d', name: 'c2', input: 'mp', kernel: 'c2/kernel', strides: [1, 1], padding: 'valid', activation: 'sigmoid' },
      { op: 'add', name: 'sum', inputs: ['dw', 'c2'] },
      { op: 'concat', name: 'cat', inputs: ['sum', 'c2'] },
      { op: 'avgPool', name: 'ap', input: 'cat', size: [3, 3], strides: [2, 2], padding: 'same' },
      { op: 'conv2d', name: 'c3', input: 'ap', kernel: 'c3/kernel', bias: 'c3/bias', strides: [1, 1], padding: 'valid', activation: 'relu' },
      { op: 'flatten', name: 'flat', input: 'ap' },
      { op: 'reshape', name: 'back', input: 'flat', shape: [144] },
      { op: 'batchNorm', name: 'bn2', input: 'back', gamma: 'bn2/gamma', beta: 'bn2/beta', mean: 'bn2/mean', variance: 'bn2/variance', epsilon: 0.01 },
      { op: 'globalAvgPool', name: 'gap', input: 'c3' },
      { op: 'concat', name: 'both', inputs: ['bn2', 'gap'] },
      { op: 'dropout', name: 'drop', input: 'both', rate: 0.5 },
      { op: 'dense', name: 'fc', input: 'drop', kernel: 'fc/kernel', bias: 'fc/bias' },
    ],
    output: 'fc',
  };
  const x = tf.input({ shape: [9, 9, 2], name: 'x' });
  const c1 = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'c1' }).apply(x) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ epsilon: 0.001, name: 'bn' }).apply(c1) as tf.SymbolicTensor;
  const r = tf.layers.reLU({ maxValue: 6, name: 'r' }).apply(bn) as tf.SymbolicTensor;
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'tanh', name: 'dw' }).apply(r) as tf.SymbolicTensor;
  const mp = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: 'mp' }).apply(r) as tf.SymbolicTensor;
  const c2 = tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false, activation: 'sigmoid', name: 'c2' }).apply(mp) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([dw, c2]) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([sum, c2]) as tf.SymbolicTensor;
  const ap = tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'ap' }).apply(cat) as tf.SymbolicTensor;
  const c3 = tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', name: 'c3' }).apply(ap) as tf.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flat' }).apply(ap) as tf.SymbolicTensor;
  const back = tf.layers.reshape({ targetShape: [144], name: 'back' }).apply(flat) as tf.SymbolicTensor;
  const bn2 = tf.layers.batchNormalization({ epsilon: 0.01, name: 'bn2' }).apply(back) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(c3) as tf.SymbolicTensor;
  const both = tf.layers.concatenate({ name: 'both' }).apply([bn2, gap]) as tf.SymbolicTensor;
  const drop = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(both) as tf.SymbolicTensor;
  const fc = tf.layers.dense({ units: 3, name: 'fc' }).apply(drop) as tf.SymbolicTensor;
  return { graph, params, layers: tf.model({ inputs: x, outputs: fc }) };
}

test("every op agrees with TF.js's own layers at evaluation (same padding, pools, depthwise, BatchNorm, concat, dropout as identity)", () => {
  const { graph, params, layers } = everyOp();
  const start = tf.memory().numTensors;
  const rng = new Rng(11);
  const weights = tf.tidy(() => params.map((p) => (p.kind === 'state' && p.name.endsWith('variance') ? tf.add(tf.abs(randomTensor(p.shape, rng)), 0.5) : randomTensor(p.shape, rng, 0.5))));
  // A layer's weights in Keras's order (kernel, bias; BatchNorm: gamma, beta, moving mean, moving variance): the params'.
  for (const layer of layers.layers) {
    const mine = params.flatMap((p, i) => (p.name.startsWith(`${layer.name}/`) ? [weights[i]] : []));
    if (mine.length) layer.setWeights(mine);
  }
  const model = graphModel(graph, params, 3);
  const x = randomTensor([5, 9, 9, 2], rng) as tf.Tensor4D;
  const want = layers.predict(x) as tf.Tensor;
  const got = tf.tidy(() => model.forward(weights, x));
  assert.deepEqual(got.shape, [5, 3]);
  assert.ok(maxAbsDiff(want, got) < 1e-4, `differs from TF.js layers by ${maxAbsDiff(want, got)}`);
  tf.dispose([want, got, x, ...weights]);
  assert.equal(tf.memory().numTensors, start, 'no tensor leaks');
  layers.dispose();
});

test('training mode: gradients reach every trainable weight, BatchNorm reports batch moments in state order, Dropout draws from the Rng', () => {
  const { graph, params, layers } = everyOp();
  layers.dispose();
  // Reversed: the moments must still come out in the order of the state params, not of the nodes.
  const reversed = [...params].reverse();
  const model = graphModel(graph, reversed, 3);
  const start = tf.memory().numTensors;
  const rng = new Rng(5);
  const weights = reversed.map((p) => (p.kind === 'state' && p.name.endsWith('variance') ? tf.ones(p.shape) : randomTensor(p.shape, rng, 0.5)));
  const x = randomTensor([6, 9, 9, 2], rng) as tf.Tensor4D;
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3));
  const trainable = reversed.flatMap((p, i) => (p.kind === 'state' ? [] : [i]));
  const step = (seed: number) => {
    const moments: tf.Tensor[] = [];
    const dropoutRng = new Rng(seed);
    const { value, grads } = tf.valueAndGrads((...ws: tf.Tensor[]) => {
      const all = weights.slice();
      trainable.forEach((p, k) => (all[p] = ws[k]));
      return tf.losses.softmaxCrossEntropy(labels, model.forward(all, x, { moments, dropoutRng })) as tf.Scalar;
    })(trainable.map((i) => weights[i]));
    return { value, grads, moments };
  };
  const a = step(1);
  const b = step(1);
  const c = step(2);
  // The same Rng state draws the same masks: the same loss; another seed, other masks.
  assert.equal(a.value.dataSync()[0], b.value.dataSync()[0]);
  assert.notEqual(a.value.dataSync()[0], c.value.dataSync()[0]);
  a.grads.forEach((g, k) => assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0, `gradient of ${reversed[trainable[k]].name}`));
  // State params in reversed order: bn2 (144 channels) first, then bn (4).
  assert.deepEqual(a.moments.map((m) => m.shape), [[144], [144], [4], [4]]);
  const bnInput = tf.tidy(() => {
    const w = (n: string) => weights[reversed.findIndex((p) => p.name === n)];
    return tf.moments(tf.add(tf.conv2d(x, w('c1/kernel') as tf.Tensor4D, 1, 'same'), w('c1/bias')), [0, 1, 2]).mean;
  });
  assert.ok(maxAbsDiff(a.moments[2], bnInput) < 1e-5, 'the reported mean is the batch mean of the BatchNorm input');
  for (const r of [a, b, c]) tf.dispose([r.value, ...r.grads, ...r.moments]);
  tf.dispose([bnInput, x, labels, ...weights]);
  assert.equal(tf.memory().numTensors, start, 'no tensor leaks');
});

test('inverted dropout keeps about 1 - rate of the values, scaled by 1 / (1 - rate)', () => {
  const graph: ModelGraph = { input: { name: 'x', shape: [10, 10, 10] }, nodes: [{ op: 'flatten', name: 'f', input: 'x' }, { op: 'dropout', name: 'd', input: 'f', rate: 0.25 }], output: 'd' };
  const model = graphModel(graph, [], 1000);
  const x = tf.ones([4, 10, 10, 10]) as tf.Tensor4D;
  const y = tf.tidy(() => model.forward([], x, { dropoutRng: new Rng(9) }));
  const v = y.dataSync();
  const kept = v.filter((e) => e !== 0);
  assert.ok(kept.every((e) => Math.abs(e - 4 / 3) < 1e-6));
  // 4,000 draws: the kept fraction is 0.75 within 5 standard deviations (0.0068 each).
  assert.ok(Math.abs(kept.length / v.length - 0.75) < 0.035, `kept ${kept.length / v.length}`);
  const e = tf.tidy(() => model.forward([], x));
  assert.equal(e.dataSync().every((z) => z === 1), true);
  tf.dispose([x, y, e]);
});

test('a graph that reads an undefined tensor or weight, or names its output wrongly, is refused', () => {
  const p: ParamSpec[] = [{ name: 'k', shape: [4, 2], kind: 'kernel', fanIn: 4 }];
  const dense = { op: 'dense' as const, name: 'fc', input: 'f', kernel: 'k' };
  const g = (nodes: ModelGraph['nodes'], output = 'fc'): ModelGraph => ({ input: { name: 'x', shape: [2, 2, 1] }, nodes, output });
  assert.throws(() => graphModel(g([dense]), p, 2), (e: Error) => e instanceof GraphError && /node "fc" reads "f"/.test(e.message));
  assert.throws(() => graphModel(g([{ op: 'flatten', name: 'f', input: 'x' }, { ...dense, kernel: 'nope' }]), p, 2), /uses weight "nope"/);
  assert.throws(() => graphModel(g([{ op: 'flatten', name: 'f', input: 'x' }, dense], 'out'), p, 2), /the output "out" is not a node/);
  assert.throws(() => graphModel(g([{ op: 'flatten', name: 'x', input: 'x' }]), p, 2), /name is used twice/);
  const ok = graphModel(g([{ op: 'flatten', name: 'f', input: 'x' }, dense]), p, 2);
  assert.equal(ok.params, p);
});
