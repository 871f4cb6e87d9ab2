// The built-in models' graphs (ml/src/models/graphs.ts) compute their `forward`: each model's ONNX export, run in
// onnxruntime-node, and its TF.js Layers export, loaded with tf.loadLayersModel, give forward's logits within 1e-4 on
// random inputs and random weights (BatchNorm's running statistics included). Quantized artifacts (fixed point and
// dictionaries, per layer and per channel, narrow and wide codes) give forward's logits on their decoded weights.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { unzipSync } from 'fflate';
import { Representation, type ExperimentConfigInput } from '@quantlab/shared';
import { initBackend } from '@quantlab/ml';
import { buildModel, initWeights, type Model, type ModelGraph, type ModelName } from '../services/ml/src/models/index.ts';
import { Rng } from '../services/ml/src/random.ts';
import { createQuantizer } from '../services/ml/src/representations/index.ts';
import { decodeArtifact } from '../services/ml/src/artifact/index.ts';
import { exportModel, tfjsArtifacts, toOnnx, toTfjsZip } from '../services/ml/src/export/index.ts';
import { onnxOps } from './helpers/onnx.ts';

before(async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
});

type RepresentationInput = ExperimentConfigInput['representation'];

/** Random weights: He-normal kernels, and non-trivial biases, BatchNorm scales, shifts, means and variances. */
function randomWeights(model: Model, rng: Rng): Float32Array[] {
  return initWeights(model, rng).map((w, i) => {
    const p = model.params[i];
    if (p.kind === 'kernel') return w;
    return w.map(() => (p.name.endsWith('/variance') ? 0.5 + rng.next() : p.name.endsWith('/gamma') ? 0.5 + rng.next() : rng.normal() * 0.2));
  });
}

/** The artifact the run would store: kernels through the representation, the rest in float32. */
function artifactOf(model: Model, weights: Float32Array[], representation: RepresentationInput): Uint8Array {
  const q = createQuantizer(Representation.parse(representation));
  const isQuantized = (i: number) => model.params[i].kind === 'kernel';
  const layers = model.params.flatMap((p, i) => (isQuantized(i) ? [{ name: p.name, shape: p.shape, values: weights[i] }] : []));
  const float32 = model.params.flatMap((p, i) => (isQuantized(i) ? [] : [{ name: p.name, shape: p.shape, values: weights[i] }]));
  q.fit(layers);
  return q.pack(layers, { float32, meta: { model: model.name, inputShape: model.inputShape, numClasses: model.numClasses } });
}

/** Logits of `forward` with the artifact's decoded weights (tensors counted: none left behind). */
function forwardLogits(model: Model, artifact: Uint8Array, x: Float32Array, batch: number): Float32Array {
  const byName = new Map(decodeArtifact(artifact).layers.map((l) => [l.name, l.values]));
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const weights = model.params.map((p) => tf.tensor(byName.get(p.name)!, p.shape));
    return model.forward(weights, tf.tensor4d(x, [batch, ...model.inputShape])).dataSync() as Float32Array;
  });
  assert.equal(tf.memory().numTensors, before, 'forward leaves no tensor behind');
  return out;
}

async function onnxLogits(bytes: Uint8Array, model: Model, x: Float32Array, batch: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [batch, ...model.inputShape]) };
    const out = await session.run(feeds);
    const y = out[session.outputNames[0]];
    assert.deepEqual(y.dims, [batch, model.numClasses]);
    return y.data as Float32Array;
  } finally {
    await session.release();
  }
}

async function tfjsLogits(zip: Uint8Array, x: Float32Array, batch: number, model: Model): Promise<Float32Array> {
  const files = unzipSync(zip);
  assert.deepEqual(Object.keys(files).sort(), ['model.json', 'weights.bin']);
  const json = JSON.parse(new TextDecoder().decode(files['model.json'])) as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
  const shard = files['weights.bin'];
  const loaded = await tf.loadLayersModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength) }),
  });
  try {
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => (loaded.predict(tf.tensor4d(x, [batch, ...model.inputShape])) as tf.Tensor).dataSync() as Float32Array);
    assert.equal(tf.memory().numTensors, before);
    return out;
  } finally {
    loaded.dispose();
  }
}

function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): number {
  assert.equal(actual.length, expected.length, what);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= tol, `${what}: max |difference| ${worst} > ${tol}`);
  // The comparison means something only if the logits do differ between classes and images.
  assert.ok(new Set(expected).size > expected.length / 2, `${what}: logits are not degenerate`);
  return worst;
}

const CASES: { model: ModelName; shape: [number, number, number] }[] = [
  { model: 'cnn5', shape: [28, 28, 1] },
  { model: 'cnn5', shape: [32, 32, 3] },
  { model: 'mlp', shape: [28, 28, 1] },
  { model: 'resnet20', shape: [32, 32, 3] },
  { model: 'resnet20', shape: [28, 28, 1] },
  { model: 'vgg-small', shape: [32, 32, 3] },
];

for (const { model: name, shape } of CASES) {
  test(`${name} on ${shape.join('x')}: ONNX in onnxruntime and the TF.js Layers export compute forward (float32 weights, within 1e-4)`, { timeout: 300_000 }, async (t) => {
    const model = buildModel(name, shape, 10);
    assert.ok(model.graph, 'the model has its graph');
    const rng = new Rng(7);
    const weights = randomWeights(model, rng);
    const artifact = artifactOf(model, weights, { kind: 'float32' });
    const batch = 3;
    const x = Float32Array.from({ length: batch * shape[0] * shape[1] * shape[2] }, () => rng.normal());
    const expected = forwardLogits(model, artifact, x, batch);
    const m = exportModel(artifact);
    assert.deepEqual(m.graph, model.graph, 'the export rebuilds the model graph from the meta');
    const onnx = toOnnx(m);
    const worstOnnx = assertClose(await onnxLogits(onnx, model, x, batch), expected, 1e-4, 'onnx');
    const worstTfjs = assertClose(await tfjsLogits(toTfjsZip(m), x, batch, model), expected, 1e-4, 'tfjs');
    t.diagnostic(`max |difference| onnx ${worstOnnx.toExponential(1)}, tfjs ${worstTfjs.toExponential(1)}`);
  });
}

const QUANTIZED: { label: string; representation: RepresentationInput; integer: string; ops: string[] }[] = [
  { label: 'fixed:8 per layer', representation: { kind: 'fixed', bits: 8 }, integer: 'int8', ops: ['DequantizeLinear'] },
  { label: 'fixed:6 mse per channel', representation: { kind: 'fixed', bits: 6, range: 'mse', granularity: 'channel' }, integer: 'int8', ops: ['DequantizeLinear'] },
  { label: 'fixed:12 per channel', representation: { kind: 'fixed', bits: 12, range: 'maxabs', granularity: 'channel' }, integer: 'int32', ops: ['DequantizeLinear'] },
  { label: 'dictionary:4 global', representation: { kind: 'dictionary', bits: 4 }, integer: 'uint8', ops: ['Cast', 'Gather', 'Mul'] },
  { label: 'dictionary:3 per-layer per channel', representation: { kind: 'dictionary', bits: 3, scope: 'per-layer', granularity: 'channel' }, integer: 'uint8', ops: ['Cast', 'Gather', 'Mul'] },
  { label: 'dictionary:9 (uint16 indices)', representation: { kind: 'dictionary', bits: 9 }, integer: 'uint16', ops: ['Cast', 'Gather', 'Mul'] },
];

for (const { label, representation, integer, ops } of QUANTIZED) {
  test(`cnn5 ${label}: compact initializers (${integer}) decoded in the ONNX graph by ${ops.join(', ')} give forward on the decoded weights`, { timeout: 120_000 }, async () => {
    const model = buildModel('cnn5', [28, 28, 1], 10);
    const rng = new Rng(11);
    const artifact = artifactOf(model, randomWeights(model, rng), representation);
    const batch = 4;
    const x = Float32Array.from({ length: batch * 784 }, () => rng.normal());
    const onnx = toOnnx(exportModel(artifact));
    const info = onnxOps(onnx);
    for (const op of ops) assert.equal(info.ops.filter((o) => o === op).length, 5, `one ${op} per kernel`);
    const kernels = info.initializers.filter((i) => /kernel\/(codes|indices)$/.test(i.name));
    assert.deepEqual(kernels.map((k) => k.type), Array(5).fill(integer));
    assert.deepEqual(kernels[0].dims, [32, 1, 5, 5], 'conv kernels are OIHW');
    assert.deepEqual(kernels[4].dims, [10, 64], 'dense kernels are [out, in] (Gemm transB)');
    assert.equal(info.initializers.filter((i) => i.type === 'float' && /kernel$/.test(i.name)).length, 0, 'no kernel stored in float');
    assertClose(await onnxLogits(onnx, model, x, batch), forwardLogits(model, artifact, x, batch), 1e-4, label);
  });
}

test('the TF.js export holds the decoded float32 weights, named after its layers', () => {
  const model = buildModel('cnn5', [28, 28, 1], 10);
  const artifact = artifactOf(model, randomWeights(model, new Rng(3)), { kind: 'dictionary', bits: 4 });
  const { modelJson, weights } = tfjsArtifacts(exportModel(artifact));
  const manifest = (modelJson.weightsManifest as { weights: { name: string; shape: number[] }[] }[])[0].weights;
  assert.deepEqual(manifest.map((w) => w.name), model.params.map((p) => p.name));
  const decoded = decodeArtifact(artifact).layers;
  const all = new Float32Array(weights.buffer, weights.byteOffset, weights.byteLength / 4);
  let at = 0;
  for (const p of model.params) {
    const values = decoded.find((l) => l.name === p.name)!.values;
    assert.deepEqual(all.subarray(at, at + values.length), values, p.name);
    at += values.length;
  }
  assert.equal(at, all.length);
});

/**
 * Every op of graph.ts in one Functional graph (the form uploaded models arrive in, with `meta.graph`): depthwise and
 * dilated convolutions, 'valid' padding, BatchNorm after a dense layer, concat, reshape, dropout, every activation, a
 * final softmax. The ONNX export in onnxruntime and the TF.js Layers export (TF.js's own layers: the semantics uploaded
 * models come with) agree within 1e-4, with float32 weights and with per-channel fixed point.
 */
const ALL_OPS: ModelGraph = {
  input: { name: 'image', shape: [12, 10, 3] },
  nodes: [
    { name: 'dw', op: 'conv2d', input: 'image', kernel: 'dw/kernel', bias: 'dw/bias', strides: [1, 1], padding: 'same', depthwise: true, activation: 'relu6' },
    { name: 'dil', op: 'conv2d', input: 'dw', kernel: 'dil/kernel', strides: [1, 1], padding: 'valid', dilations: [2, 2], activation: 'tanh' },
    { name: 'strided', op: 'conv2d', input: 'image', kernel: 'strided/kernel', bias: 'strided/bias', strides: [3, 3], padding: 'valid' },
    { name: 'bn', op: 'batchNorm', input: 'dil', gamma: 'bn/gamma', beta: 'bn/beta', mean: 'bn/mean', variance: 'bn/variance', epsilon: 1e-3 },
    { name: 'pool', op: 'maxPool', input: 'bn', size: [2, 2], strides: [2, 2], padding: 'valid' },
    { name: 'avg', op: 'avgPool', input: 'strided', size: [3, 3], strides: [1, 1], padding: 'same' },
    { name: 'avg_crop', op: 'maxPool', input: 'avg', size: [2, 2], strides: [1, 1], padding: 'same' },
    { name: 'sig', op: 'activation', input: 'avg_crop', activation: 'sigmoid' },
    { name: 'cat', op: 'concat', inputs: ['pool', 'sig'] },
    { name: 'padded', op: 'padChannels', input: 'cat', before: 1, after: 2 },
    { name: 'gap', op: 'globalAvgPool', input: 'padded' },
    { name: 'flat', op: 'flatten', input: 'cat' },
    { name: 'fc', op: 'dense', input: 'flat', kernel: 'fc/kernel', bias: 'fc/bias', activation: 'relu' },
    { name: 'fc_bn', op: 'batchNorm', input: 'fc', gamma: 'fc_bn/gamma', beta: 'fc_bn/beta', mean: 'fc_bn/mean', variance: 'fc_bn/variance', epsilon: 1e-5 },
    { name: 'drop', op: 'dropout', input: 'fc_bn', rate: 0.5 },
    { name: 'square', op: 'reshape', input: 'drop', shape: [2, 2, 4] },
    { name: 'square_conv', op: 'conv2d', input: 'square', kernel: 'sq/kernel', strides: [1, 1], padding: 'same', activation: 'linear' },
    { name: 'square_flat', op: 'reshape', input: 'square_conv', shape: [8] },
    { name: 'joined', op: 'concat', inputs: ['square_flat', 'gap'] },
    { name: 'sum', op: 'add', inputs: ['joined', 'joined', 'joined'] },
    { name: 'logits', op: 'dense', input: 'sum', kernel: 'out/kernel', bias: 'out/bias' },
  ],
  output: 'logits',
  outputActivation: 'softmax',
};
// Shapes: dw [12,10,6] -> dil (3x3 dilated 2, valid) [8,6,4] -> pool [4,3,4]; strided (3x3 /3 valid) [4,3,4] -> avg,
// avg_crop (2x2 /1 same: padding after only) [4,3,4]; cat [4,3,8] -> padded [4,3,11] -> gap [11]; flat 96 -> fc 16 ->
// square [2,2,4] -> [2,2,2] -> 8; joined 19 -> logits 5.
const ALL_OPS_PARAMS: { name: string; shape: number[]; kind: 'kernel' | 'other' }[] = [
  { name: 'dw/kernel', shape: [3, 3, 3, 2], kind: 'kernel' },
  { name: 'dw/bias', shape: [6], kind: 'other' },
  { name: 'dil/kernel', shape: [3, 3, 6, 4], kind: 'kernel' },
  { name: 'strided/kernel', shape: [3, 3, 3, 4], kind: 'kernel' },
  { name: 'strided/bias', shape: [4], kind: 'other' },
  { name: 'bn/gamma', shape: [4], kind: 'other' },
  { name: 'bn/beta', shape: [4], kind: 'other' },
  { name: 'bn/mean', shape: [4], kind: 'other' },
  { name: 'bn/variance', shape: [4], kind: 'other' },
  { name: 'fc/kernel', shape: [96, 16], kind: 'kernel' },
  { name: 'fc/bias', shape: [16], kind: 'other' },
  { name: 'fc_bn/gamma', shape: [16], kind: 'other' },
  { name: 'fc_bn/beta', shape: [16], kind: 'other' },
  { name: 'fc_bn/mean', shape: [16], kind: 'other' },
  { name: 'fc_bn/variance', shape: [16], kind: 'other' },
  { name: 'sq/kernel', shape: [3, 3, 4, 2], kind: 'kernel' },
  { name: 'out/kernel', shape: [19, 5], kind: 'kernel' },
  { name: 'out/bias', shape: [5], kind: 'other' },
];

const ALL_OPS_REPRESENTATIONS: NonNullable<RepresentationInput>[] = [{ kind: 'float32' }, { kind: 'fixed', bits: 8, range: 'maxabs', granularity: 'channel' }];
for (const representation of ALL_OPS_REPRESENTATIONS) {
  test(`a graph with every op (depthwise, dilation, valid padding, concat, reshape, BatchNorm after dense, softmax): ONNX and TF.js agree within 1e-4 (${representation.kind})`, async () => {
    const rng = new Rng(5);
    const layers = ALL_OPS_PARAMS.map((p) => ({
      name: p.name,
      shape: p.shape,
      values: Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => (p.name.endsWith('/variance') ? 0.5 + rng.next() : rng.normal() * 0.5)),
    }));
    const q = createQuantizer(Representation.parse(representation));
    const kernels = layers.filter((_, i) => ALL_OPS_PARAMS[i].kind === 'kernel');
    q.fit(kernels);
    const artifact = q.pack(kernels, { float32: layers.filter((_, i) => ALL_OPS_PARAMS[i].kind !== 'kernel'), meta: { model: 'mdl_test', graph: ALL_OPS } });
    const m = exportModel(artifact);
    assert.deepEqual(m.shapes.get('cat'), [4, 3, 8]);
    assert.deepEqual(m.shapes.get('logits'), [5]);
    const batch = 3;
    const x = Float32Array.from({ length: batch * 12 * 10 * 3 }, () => rng.normal());
    const model = { inputShape: [12, 10, 3], numClasses: 5 } as unknown as Model;
    const fromTfjs = await tfjsLogits(toTfjsZip(m), x, batch, model);
    const fromOnnx = await onnxLogits(toOnnx(m), model, x, batch);
    for (let i = 0; i < batch; i++) assert.ok(Math.abs(fromTfjs.subarray(i * 5, i * 5 + 5).reduce((a, b) => a + b, 0) - 1) < 1e-5, 'softmax output');
    let worst = 0;
    for (let i = 0; i < fromOnnx.length; i++) worst = Math.max(worst, Math.abs(fromOnnx[i] - fromTfjs[i]));
    assert.ok(worst <= 1e-4, `max |difference| ${worst}`);
    assert.ok(new Set(fromTfjs).size > fromTfjs.length / 2, 'outputs are not degenerate');
  });
}

test('an artifact whose graph does not fit its layers, or is malformed, is an ExportError naming the problem', () => {
  const model = buildModel('mlp', [28, 28, 1], 10);
  const weights = randomWeights(model, new Rng(1));
  const pack = (meta: Record<string, unknown>, drop = '') => {
    const layers = model.params.flatMap((p, i) => (p.name === drop ? [] : [{ name: p.name, shape: p.shape, values: weights[i] }]));
    return createQuantizer(Representation.parse({ kind: 'float32' })).pack(layers, { meta });
  };
  const base = { model: 'mlp', inputShape: [28, 28, 1], numClasses: 10 };
  assert.throws(() => exportModel(pack(base, 'fc2/kernel')), { name: 'ExportError', message: 'graph: node fc2 uses weight fc2/kernel, which the artifact does not hold' });
  assert.throws(() => exportModel(pack({ ...base, inputShape: [32, 32, 3] })), { name: 'ExportError', message: 'node fc1: kernel fc1/kernel [784, 128] does not fit input [3072]' });
  assert.throws(() => exportModel(pack({ model: 'mdl_x' })), { name: 'ExportError', message: /names no graph and no built-in model/ });
  assert.throws(() => exportModel(pack({ graph: { nodes: 'no' } })), { name: 'ExportError', message: /is not a model graph/ });
  assert.throws(() => exportModel(pack({ graph: { input: { name: 'x', shape: [28, 28, 1] }, nodes: [{ name: 'c', op: 'conv2d', input: 'x', kernel: 'fc1/kernel' }], output: 'c' } })), { name: 'ExportError' });
  assert.throws(() => exportModel(new Uint8Array([1, 2, 3])), { name: 'ExportError', message: /^artifact: not a quantlab artifact/ });
});
