/**
 * The test accuracy of an exported model in its own runtime, on the test images the run used (docs/EXPORT.md):
 *   node --import tsx scripts/exported-accuracy.ts run.onnx        (onnxruntime-node)
 *   node --import tsx scripts/exported-accuracy.ts run.tfjs.zip    (TF.js, tf.loadLayersModel)
 * The dataset, normalization and test subset come from the file's own metadata (quantlab.* in ONNX's metadata_props,
 * userDefinedMetadata.quantlab in model.json). Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { unzipSync } from 'fflate';
import onnxProto from 'onnx-proto';
import { initBackend, loadDataset, prepareDataset } from '@quantlab/ml';
import { fillBatch } from '../services/ml/src/datasets/batches.ts';

interface Meta {
  dataset: Parameters<typeof loadDataset>[0];
  inputShape: [number, number, number];
  normalization: { mean: number[]; std: number[] };
  testLimit: number | null;
  testAccuracy?: number;
}

const file = process.argv[2];
if (!file) throw new Error('usage: node --import tsx scripts/exported-accuracy.ts FILE.onnx|FILE.tfjs.zip');
const bytes = readFileSync(file);
const isOnnx = file.endsWith('.onnx');
let meta: Meta;
let layers: { json: { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] }; files: Record<string, Uint8Array> } | null = null;
if (isOnnx) {
  const props = onnxProto.onnx.ModelProto.decode(bytes).metadataProps ?? [];
  meta = Object.fromEntries(props.filter((p) => p.key?.startsWith('quantlab.')).map((p) => [p.key!.slice(9), JSON.parse(p.value!)])) as Meta;
} else {
  const files = unzipSync(bytes);
  const json = JSON.parse(new TextDecoder().decode(files['model.json']));
  meta = json.userDefinedMetadata.quantlab as Meta;
  layers = { json, files };
}

await initBackend('wasm');
const data = prepareDataset(await loadDataset(meta.dataset, process.env.DATA_DIR ?? './data'), { trainLimit: 1, testLimit: meta.testLimit ?? undefined });
const n = data.test.count;
const size = meta.inputShape.reduce((a, b) => a * b, 1);
const x = new Float32Array(n * size);
const labels = new Int32Array(n);
fillBatch(data.test, Int32Array.from({ length: n }, (_, i) => i), 0, n, x, labels, { shape: meta.inputShape, norm: meta.normalization });

const started = performance.now();
let scores: Float32Array;
if (layers) {
  const { json, files } = layers;
  const shard = files[json.weightsManifest[0].paths[0]];
  const model = await tf.loadLayersModel({ load: async () => ({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: shard.slice().buffer }) });
  scores = tf.tidy(() => (model.predict(tf.tensor4d(x, [n, ...meta.inputShape])) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
} else {
  const session = await ort.InferenceSession.create(bytes);
  scores = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [n, ...meta.inputShape]) }))[session.outputNames[0]].data as Float32Array;
  await session.release();
}
const ms = performance.now() - started;
const classes = scores.length / n;
let correct = 0;
for (let i = 0; i < n; i++) {
  let best = 0;
  for (let c = 1; c < classes; c++) if (scores[i * classes + c] > scores[i * classes + best]) best = c;
  if (best === labels[i]) correct++;
}
process.stdout.write(JSON.stringify({ file, runtime: isOnnx ? `onnxruntime-node ${ort.env.versions.node}` : `tfjs ${tf.version_core} (wasm)`, test: n, correct, testAccuracy: correct / n, runTestAccuracy: meta.testAccuracy ?? null, ms: Math.round(ms) }) + '\n');
