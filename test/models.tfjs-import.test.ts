// The TF.js Layers import (shared/models/tfjs-layers.ts): models built and saved with TF.js's own layers API come
// back as graphs that compute what TF.js computes, BatchNorm folded where it may be (same logits within 1e-4), and
// every kind of bad input refused with its status and a message naming what is wrong.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, Rng } from '@quantlab/ml';
import { graphModel } from '@quantlab/ml/models/index';
import { checkModelJson, importLayersModel, ModelImportError, parseModelJson, type ImportedModel } from '@quantlab/shared/models/tfjs-layers';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';
import { perturbBatchNorms, residualModel, saveLayersModel, type SavedLayersModel } from './helpers/layers-model.ts';

before(async () => {
  assert.equal(await initBackend(TEST_BACKEND), TEST_BACKEND_NAME);
});

const randomImages = (n: number, shape: number[], seed: number) => {
  const rng = new Rng(seed);
  const v = new Float32Array(n * shape.reduce((a, b) => a * b, 1)).map(() => rng.normal());
  return tf.tensor4d(v, [n, ...shape] as [number, number, number, number]);
};

/** The imported model's probabilities (softmax of its logits when the source ended in softmax) on x. */
function probabilities(m: ImportedModel, x: tf.Tensor4D): tf.Tensor {
  const model = graphModel(m.graph, m.params, m.numClasses);
  return tf.tidy(() => {
    const weights = m.params.map((p, i) => tf.tensor(m.weights[i], p.shape));
    const logits = model.forward(weights, x);
    return m.graph.outputActivation === 'softmax' ? tf.softmax(logits) : logits.clone();
  });
}
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const load = (s: SavedLayersModel, opts?: { fold?: boolean }) => importLayersModel(checkModelJson(structuredClone(s.modelJson)), { files: s.files }, opts);

test('a Functional model with Conv2D+BatchNormalization, a residual Add and Dropout: BatchNorm folded, the same outputs as TF.js', async () => {
  const source = residualModel(2);
  perturbBatchNorms(source);
  const saved = await saveLayersModel(source, 2);
  const start = tf.memory().numTensors;
  const m = load(saved);
  assert.deepEqual(m.folded, ['bn1', 'bn2']);
  assert.equal(m.numClasses, 10);
  assert.equal(m.graph.outputActivation, 'softmax');
  assert.deepEqual(m.graph.input, { name: 'image', shape: [28, 28, 1] });
  assert.deepEqual(
    m.graph.nodes.map((n) => `${n.op}:${n.name}`),
    ['conv2d:conv1', 'activation:relu1', 'conv2d:conv2', 'add:residual', 'activation:relu2', 'maxPool:pool', 'flatten:flatten', 'dropout:dropout', 'dense:classes'],
  );
  // The residual reads conv2 (which now computes bn2) and relu1; conv2 got a bias from folding.
  assert.deepEqual(m.graph.nodes[3], { op: 'add', name: 'residual', inputs: ['conv2', 'relu1'] });
  assert.deepEqual(
    m.params.map((p) => `${p.name}:${p.kind}:${p.shape.join('x')}`),
    ['conv1/kernel:kernel:3x3x1x8', 'conv1/bias:bias:8', 'conv2/kernel:kernel:3x3x8x8', 'conv2/bias:bias:8', 'classes/kernel:kernel:392x10', 'classes/bias:bias:10'],
  );
  assert.equal(m.params[0].fanIn, 9);
  assert.equal(m.params[4].fanIn, 392);
  const unfolded = load(saved, { fold: false });
  assert.deepEqual(unfolded.folded, []);
  assert.equal(unfolded.params.filter((p) => p.kind === 'state').length, 4);
  const x = randomImages(6, [28, 28, 1], 1);
  const want = source.predict(x) as tf.Tensor;
  const folded = probabilities(m, x);
  const plain = probabilities(unfolded, x);
  assert.ok(maxAbsDiff(want, plain) < 1e-5, `unfolded vs TF.js: ${maxAbsDiff(want, plain)}`);
  assert.ok(maxAbsDiff(want, folded) < 1e-4, `folded vs TF.js: ${maxAbsDiff(want, folded)}`);
  // The logits themselves, folded against unfolded.
  const logits = (im: ImportedModel) =>
    tf.tidy(() => graphModel(im.graph, im.params, 10).forward(im.params.map((p, i) => tf.tensor(im.weights[i], p.shape)), x));
  const [lf, lu] = [logits(m), logits(unfolded)];
  assert.ok(maxAbsDiff(lf, lu) < 1e-4, `folded logits differ by ${maxAbsDiff(lf, lu)}`);
  tf.dispose([want, folded, plain, lf, lu, x]);
  assert.equal(tf.memory().numTensors, start, 'no tensor leaks');
  source.dispose();
});

test('the JSON upload form (shards concatenated) reads the same weights as the shard files', async () => {
  const source = residualModel(3);
  const saved = await saveLayersModel(source, 3);
  const a = load(saved);
  const b = importLayersModel(checkModelJson(saved.modelJson), { concatenated: saved.weights });
  assert.equal(a.weights.length, b.weights.length);
  a.weights.forEach((w, i) => assert.deepEqual(w, b.weights[i]));
  source.dispose();
});

test('a Sequential model: ReLU(6), pools, GlobalAveragePooling2D, DepthwiseConv2D, Reshape, a final Activation(softmax)', async () => {
  const source = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [12, 10, 3], filters: 4, kernelSize: [3, 2], strides: [2, 1], padding: 'valid' }),
      tf.layers.reLU({ maxValue: 6 }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'sigmoid' }),
      tf.layers.batchNormalization({ epsilon: 0.01 }),
      tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'valid' }),
      tf.layers.flatten(),
      tf.layers.reshape({ targetShape: [1, -1, 8] }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 5, activation: 'tanh' }),
      tf.layers.dense({ units: 3 }),
      tf.layers.activation({ activation: 'softmax' }),
    ],
  });
  perturbBatchNorms(source);
  const saved = await saveLayersModel(source);
  const m = load(saved);
  // The BatchNorm follows a depthwise conv with a sigmoid: not linear, so it stays.
  assert.deepEqual(m.folded, []);
  assert.equal(m.graph.outputActivation, 'softmax');
  assert.equal(m.graph.nodes.filter((n) => n.op === 'activation').length, 1, 'the final softmax is not a node');
  assert.deepEqual(m.graph.input.shape, [12, 10, 3]);
  assert.equal(m.numClasses, 3);
  const x = randomImages(4, [12, 10, 3], 2);
  const want = source.predict(x) as tf.Tensor;
  const got = probabilities(m, x);
  assert.ok(maxAbsDiff(want, got) < 1e-5, `differs from TF.js by ${maxAbsDiff(want, got)}`);
  tf.dispose([want, got, x]);
  source.dispose();
});

test('Concatenate, a BatchNorm on a conv that two layers read (kept), a linear Dense + BatchNorm (folded)', async () => {
  const x = tf.input({ shape: [8, 8, 2], name: 'in' });
  const c = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'c' }).apply(x) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(c) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([bn, c]) as tf.SymbolicTensor;
  const f = tf.layers.flatten({ name: 'f' }).apply(cat) as tf.SymbolicTensor;
  const d = tf.layers.dense({ units: 4, name: 'd' }).apply(f) as tf.SymbolicTensor;
  const bn2 = tf.layers.batchNormalization({ name: 'bn2' }).apply(d) as tf.SymbolicTensor;
  const source = tf.model({ inputs: x, outputs: bn2 });
  perturbBatchNorms(source);
  const m = load(await saveLayersModel(source));
  assert.deepEqual(m.folded, ['bn2']);
  assert.equal(m.graph.outputActivation, undefined);
  assert.equal(m.graph.output, 'd');
  const input = randomImages(3, [8, 8, 2], 3);
  const want = source.predict(input) as tf.Tensor;
  const got = probabilities(m, input);
  assert.ok(maxAbsDiff(want, got) < 1e-4, `differs from TF.js by ${maxAbsDiff(want, got)}`);
  tf.dispose([want, got, input]);
  source.dispose();
});

/** Runs the import on an edited copy of a saved model and returns the error it throws. */
function refusal(saved: SavedLayersModel, edit: (json: SavedLayersModel['modelJson'], files: Map<string, Uint8Array>) => void): ModelImportError {
  const json = structuredClone(saved.modelJson);
  const files = new Map([...saved.files].map(([k, v]) => [k, v.slice()]));
  edit(json, files);
  try {
    importLayersModel(checkModelJson(json), { files });
  } catch (e) {
    assert.ok(e instanceof ModelImportError, String(e));
    return e;
  }
  assert.fail('the import was accepted');
}

test('bad input: each refusal has its status and names what is wrong', async () => {
  const source = residualModel(4);
  const saved = await saveLayersModel(source, 2);
  source.dispose();
  const layers = (j: SavedLayersModel['modelJson']) => (j.modelTopology as { config: { layers: { name: string; class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[][][] }[] } }).config.layers;

  assert.throws(() => parseModelJson('{"modelTopology": '), (e: ModelImportError) => e.status === 400 && /^model.json is not JSON/.test(e.message));
  assert.throws(() => parseModelJson('[1]'), (e: ModelImportError) => e.status === 400 && /must be a JSON object/.test(e.message));
  assert.throws(() => parseModelJson('{"weightsManifest": []}'), (e: ModelImportError) => e.status === 400 && /no modelTopology/.test(e.message));

  let e = refusal(saved, (_, files) => files.delete('group1-shard2of2.bin'));
  assert.equal(e.status, 400);
  assert.match(e.message, /shard "group1-shard2of2.bin" \(weightsManifest\[0\]\.paths\) is missing/);

  e = refusal(saved, (_, files) => files.set('group1-shard2of2.bin', files.get('group1-shard2of2.bin')!.subarray(4)));
  assert.equal(e.status, 400);
  const total = saved.weights.length;
  assert.equal(e.message, `shards "group1-shard1of2.bin" + "group1-shard2of2.bin" have ${total - 4} bytes; weightsManifest[0] describes ${total} (${saved.modelJson.weightsManifest[0].weights.length} float32 weights)`);

  e = refusal(saved, (_, files) => files.set('extra.bin', new Uint8Array(4)));
  assert.equal(e.status, 400);
  assert.match(e.message, /weight file "extra.bin" is not a shard named in model.json's weightsManifest/);

  assert.throws(
    () => importLayersModel(checkModelJson(saved.modelJson), { concatenated: saved.weights.subarray(1) }),
    (err: ModelImportError) => err.status === 400 && err.message === `the weights have ${total - 1} bytes; the manifest's shards (group1-shard1of2.bin, group1-shard2of2.bin) describe ${total}`,
  );

  e = refusal(saved, (json) => {
    const l = layers(json).find((x) => x.name === 'relu2')!;
    l.class_name = 'LeakyReLU';
  });
  assert.equal(e.status, 422);
  assert.match(e.message, /^layer relu2 has class LeakyReLU, which is not supported \(supported: InputLayer, Conv2D/);

  e = refusal(saved, (json) => {
    layers(json).find((x) => x.name === 'residual')!.inbound_nodes[0][1][0] = 'ghost';
  });
  assert.equal(e.status, 422);
  assert.equal(e.message, 'modelTopology: layer residual (Add) reads layer "ghost", which the topology does not define');

  e = refusal(saved, (json) => {
    const ws = json.weightsManifest[0].weights;
    const i = ws.findIndex((w) => w.name === 'bn2/moving_variance');
    // Renamed, so the bytes still match the manifest and only the reference fails.
    ws[i] = { ...ws[i], name: 'bn2/something_else' };
  });
  assert.equal(e.status, 422);
  assert.equal(e.message, 'layer bn2 (BatchNormalization) needs weight bn2/moving_variance, which weightsManifest does not list');

  e = refusal(saved, (json) => {
    const l = layers(json).find((x) => x.name === 'conv2')!;
    l.config.filters = 4;
  });
  assert.equal(e.status, 422);
  assert.equal(e.message, 'weight conv2/kernel has shape [3, 3, 8, 8]; layer conv2 (Conv2D) on its input needs [3, 3, 8, 4]');

  for (const bad of [NaN, Infinity]) {
    e = refusal(saved, (json, files) => {
      // The first weight in the manifest, element 5 of it (in the first shard).
      const view = new DataView(files.get('group1-shard1of2.bin')!.buffer);
      view.setFloat32(5 * 4, bad, true);
      assert.equal(json.weightsManifest[0].weights[0].name, 'conv1/kernel');
    });
    assert.equal(e.status, 422);
    assert.equal(e.message, `weight conv1/kernel holds ${bad} at element 5; every weight must be finite`);
  }

  // A BatchNorm's statistics are checked as uploaded, not only once folded: an infinite variance folds to a zero
  // scale (finite, and silently wrong), a negative one to NaN under a conv's name.
  for (const [bad, why] of [[Infinity, 'every weight must be finite'], [-0.5, 'a moving variance cannot be negative']] as const) {
    e = refusal(saved, (json, files) => {
      const ws = json.weightsManifest[0].weights;
      const i = ws.findIndex((w) => w.name === 'bn2/moving_variance');
      const offset = ws.slice(0, i).reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0) + 3 * 4;
      // The shards cut the manifest's bytes at arbitrary places: write into whichever holds this element.
      const [first, second] = [files.get('group1-shard1of2.bin')!, files.get('group1-shard2of2.bin')!];
      const [shard, at] = offset < first.length ? [first, offset] : [second, offset - first.length];
      new DataView(shard.buffer).setFloat32(at, bad, true);
    });
    assert.equal(e.status, 422);
    assert.equal(e.message, `weight bn2/moving_variance holds ${bad} at element 3; ${why}`);
  }

  e = refusal(saved, (json) => {
    json.weightsManifest[0].weights[0].dtype = 'float16';
  });
  assert.equal(e.status, 422);
  assert.equal(e.message, 'weight conv1/kernel has dtype float16; only float32 weights are supported');

  e = refusal(saved, (json) => {
    (json.modelTopology as { config: { input_layers: unknown[] } }).config.input_layers.push(['image', 0, 0]);
  });
  assert.equal(e.status, 422);
  assert.match(e.message, /the model has 2 inputs/);

  e = refusal(saved, (json) => {
    layers(json)[0].config.batch_input_shape = [null, 784];
  });
  assert.equal(e.status, 422);
  assert.match(e.message, /input shape is \[784\]; quantlab feeds images/);
});
