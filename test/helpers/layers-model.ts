// TF.js Layers models as a user brings them: built with TF.js's own layers API, saved with model.save() into the
// model.json + weight shards that tensorflowjs_converter also writes.
import * as tf from '@tensorflow/tfjs';

export interface SavedLayersModel {
  modelJson: { modelTopology: unknown; weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[]; [k: string]: unknown };
  /** Shard file name -> bytes, in manifest order. */
  files: Map<string, Uint8Array>;
  /** Every shard concatenated in manifest order (the JSON upload form). */
  weights: Uint8Array;
}

/** Saves through tf.io.withSaveHandler and writes the weights as `shards` files cut at arbitrary bytes, like the converter's. */
export async function saveLayersModel(model: tf.LayersModel, shards = 1): Promise<SavedLayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts!;
  const data = a.weightData;
  const weights = new Uint8Array(Array.isArray(data) ? await new Blob(data).arrayBuffer() : (data as ArrayBuffer)).slice();
  const files = new Map<string, Uint8Array>();
  const paths = Array.from({ length: shards }, (_, i) => (shards === 1 ? 'weights.bin' : `group1-shard${i + 1}of${shards}.bin`));
  const cut = Math.ceil(weights.length / shards);
  paths.forEach((p, i) => files.set(p, weights.slice(i * cut, Math.min(weights.length, (i + 1) * cut))));
  const modelJson = {
    format: 'layers-model',
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy ?? null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: paths.map((p) => `./${p}`), weights: a.weightSpecs! as SavedLayersModel['modelJson']['weightsManifest'][0]['weights'] }],
  };
  return { modelJson, files, weights };
}

/**
 * The Keras-style Functional model of issue 16: Conv2D + BatchNormalization, a residual Add, Dropout, a softmax Dense.
 * 28x28x1 in, 10 classes out; `seed` fixes TF.js's initializers.
 */
export function residualModel(seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 100 + s });
  const x = tf.input({ shape: [28, 28, 1], name: 'image' });
  const c1 = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'conv1', kernelInitializer: init(1) }).apply(x) as tf.SymbolicTensor;
  const b1 = tf.layers.batchNormalization({ momentum: 0.8, name: 'bn1' }).apply(c1) as tf.SymbolicTensor;
  const r1 = tf.layers.reLU({ name: 'relu1' }).apply(b1) as tf.SymbolicTensor;
  const c2 = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'conv2', kernelInitializer: init(2) }).apply(r1) as tf.SymbolicTensor;
  const b2 = tf.layers.batchNormalization({ momentum: 0.8, name: 'bn2' }).apply(c2) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'residual' }).apply([b2, r1]) as tf.SymbolicTensor;
  const r2 = tf.layers.activation({ activation: 'relu', name: 'relu2' }).apply(sum) as tf.SymbolicTensor;
  const pool = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(r2) as tf.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flatten' }).apply(pool) as tf.SymbolicTensor;
  const drop = tf.layers.dropout({ rate: 0.25, name: 'dropout' }).apply(flat) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax', name: 'classes', kernelInitializer: init(3) }).apply(drop) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: out, name: 'residual' });
}

/** Gives every BatchNorm moving statistics and scales away from their identity defaults, so folding them shows. */
export function perturbBatchNorms(model: tf.LayersModel, seed = 7): void {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    tf.tidy(() =>
      layer.setWeights(
        layer.getWeights().map((w, i) => {
          const v = new Float32Array(w.size).map(() => next());
          // gamma, beta, moving mean: around 1, 0, 0; moving variance: positive
          return tf.tensor(v.map((x) => (i === 0 ? 0.5 + x : i === 3 ? 0.2 + x : x - 0.5)), w.shape);
        }),
      ),
    );
  }
}

/**
 * Trains a TF.js model with TF.js's own fit on a dataset as quantlab prepares it (the same stratified subsets and
 * normalization a run with these limits uses), so its weights are "pretrained" for quantlab's inputs. Returns its
 * test accuracy on the run's test subset.
 */
export async function pretrain(model: tf.LayersModel, dataset: 'mnist' | 'fashion-mnist', limits: { trainLimit: number; testLimit: number }, epochs = 1): Promise<number> {
  const { loadDataset, prepareDataset } = await import('@quantlab/ml');
  const { fillBatch } = await import('@quantlab/ml/datasets/index');
  const data = prepareDataset(await loadDataset(dataset, './data'), limits);
  const split = (s: typeof data.train) => {
    const [h, w, c] = data.raw.shape;
    const x = new Float32Array(s.count * h * w * c);
    const y = new Int32Array(s.count);
    fillBatch(s, Int32Array.from({ length: s.count }, (_, i) => i), 0, s.count, x, y, { shape: data.raw.shape, norm: data.norm });
    return { x: tf.tensor4d(x, [s.count, h, w, c]), y: tf.tidy(() => tf.oneHot(tf.tensor1d(y, 'int32'), data.raw.numClasses)), labels: y };
  };
  const train = split(data.train);
  const test = split(data.test);
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  await model.fit(train.x, train.y, { epochs, batchSize: 50, shuffle: false, verbose: 0 });
  const predicted = tf.tidy(() => (model.predict(test.x) as tf.Tensor).argMax(1).dataSync() as Int32Array);
  tf.dispose([train.x, train.y, test.x, test.y]);
  return predicted.reduce((s, p, i) => s + (p === test.labels[i] ? 1 : 0), 0) / test.labels.length;
}
