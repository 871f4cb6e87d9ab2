// Issue 16's "your own model in" end to end: a Keras-style Functional model (Conv2D + BatchNormalization, a residual
// Add, Dropout, a softmax Dense) written with TF.js's own layers API and saved, uploaded over HTTP, trained through
// the API and a real worker on Redis at fixed:8 and dictionary:4 (MNIST, tiny limits), and quantized without
// training in the inference phase. Each artifact alone restores the uploaded model at the reported accuracy, and its
// ONNX export (run in onnxruntime-node) and TF.js Layers export (loaded by TF.js) score the run's accuracy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { ModelSummary, RunDocument } from '@quantlab/shared';
import { buildApp } from '@quantlab/api/app';
import { startWorker, type RunningWorker } from '@quantlab/worker';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { unzipSync } from 'fflate';
import { initBackend, evaluateArtifact, loadDataset, prepareDataset, restoreModel } from '@quantlab/ml';
import { fillBatch } from '../services/ml/src/datasets/batches.ts';
import { testEnv } from './helpers/redis.ts';
import { sleep } from './helpers/worker.ts';
import { TEST_BACKEND } from './helpers/backend.ts';
import { pretrain, residualModel, saveLayersModel } from './helpers/layers-model.ts';

// A generous Redis command timeout: the shared machine is often loaded far past its cores.
const env = testEnv('e2e-uploaded-model', { TFJS_BACKEND: TEST_BACKEND, REDIS_COMMAND_TIMEOUT_MS: '30000' });
const LIMITS = { trainLimit: 1000, testLimit: 300 };
let app: FastifyInstance;
let base: string;
let worker: RunningWorker;
let model: ModelSummary;
let tfjsAccuracy: number;

before(async () => {
  await initBackend(TEST_BACKEND);
  const source = residualModel(8);
  tfjsAccuracy = await pretrain(source, 'mnist', LIMITS, 4);
  const saved = await saveLayersModel(source, 2);
  source.dispose();
  app = await buildApp({ env, logger: false });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  const form = new FormData();
  form.append('name', 'residual');
  form.append('model.json', new Blob([JSON.stringify(saved.modelJson)]), 'model.json');
  for (const [file, bytes] of saved.files) form.append('weights', new Blob([bytes as Uint8Array<ArrayBuffer>]), file);
  const res = await fetch(`${base}/models`, { method: 'POST', body: form });
  assert.equal(res.status, 201);
  model = ModelSummary.parse(await res.json());
  worker = await startWorker(env);
});

after(async () => {
  await worker?.close();
  await app?.close();
  await env.cleanup();
});

async function runToEnd(config: object): Promise<RunDocument> {
  const res = await fetch(`${base}/experiments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  assert.equal(res.status, 202, await res.clone().text());
  const { id } = (await res.json()) as { id: string };
  for (const until = Date.now() + 400_000; Date.now() < until; await sleep(500)) {
    const r = await fetch(`${base}/experiments/${id}`);
    if (r.status !== 200) continue;
    const doc = RunDocument.parse(await r.json());
    if (doc.status === 'completed' || doc.status === 'failed') {
      assert.equal(doc.status, 'completed', doc.error?.message);
      return doc;
    }
  }
  throw new Error(`run ${id} did not finish`);
}

async function artifactOf(id: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(`${base}/experiments/${id}/artifact`)).arrayBuffer());
}

const argmaxHits = (logits: Float32Array, labels: Int32Array, classes: number) =>
  labels.reduce((hits, label, i) => {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    return hits + (row.indexOf(Math.max(...row)) === label ? 1 : 0);
  }, 0);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/**
 * The run's exports through the API: onnxruntime-node runs the ONNX model and TF.js loads the Layers zip on the run's
 * test images; each must score the run's accuracy to one image and give the restored model's outputs within 1e-3.
 */
async function checkExports(doc: RunDocument, artifact: Uint8Array): Promise<void> {
  const restored = restoreModel(artifact);
  const { meta } = restored;
  const data = prepareDataset(await loadDataset('mnist', env.DATA_DIR), { trainLimit: 1, testLimit: meta.testLimit ?? undefined });
  const n = data.test.count;
  const size = meta.inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * size);
  const labels = new Int32Array(n);
  fillBatch(data.test, Int32Array.from({ length: n }, (_, i) => i), 0, n, x, labels, { shape: meta.inputShape, norm: meta.normalization });
  const classes = restored.model.numClasses;
  const evaluated = tf.tidy(() => {
    const weights = restored.model.params.map((p, i) => tf.tensor(restored.weights[i], p.shape));
    return restored.model.forward(weights, tf.tensor4d(x, [n, ...meta.inputShape])).dataSync() as Float32Array;
  });
  const exported = async (format: string) => {
    const r = await fetch(`${base}/experiments/${doc.id}/export?format=${format}`);
    assert.equal(r.status, 200, `${format}: ${await r.clone().text()}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  const session = await ort.InferenceSession.create(await exported('onnx'));
  const onnxOut = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [n, ...meta.inputShape]) }))[session.outputNames[0]].data as Float32Array;
  await session.release();
  const files = unzipSync(await exported('tfjs'));
  const json = JSON.parse(new TextDecoder().decode(files['model.json'])) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const layersModel = await tf.loadLayersModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: files[json.weightsManifest[0].paths[0]].slice().buffer }),
  });
  const tfjsOut = tf.tidy(() => (layersModel.predict(tf.tensor4d(x, [n, ...meta.inputShape])) as tf.Tensor).dataSync() as Float32Array);
  layersModel.dispose();
  // The upload ends in a softmax, which the exports keep (training used the logits): compare probabilities.
  const probabilities = tf.tidy(() => tf.softmax(tf.tensor2d(evaluated, [n, classes])).dataSync() as Float32Array);
  const runHits = Math.round(doc.metrics.testAccuracy! * n);
  for (const [what, out] of [['onnx', onnxOut], ['tfjs', tfjsOut]] as const) {
    assert.ok(Math.abs(argmaxHits(out, labels, classes) - runHits) <= 1, `${what}: ${argmaxHits(out, labels, classes)} of ${n} correct, the run ${runHits}`);
    assert.ok(maxDiff(out, probabilities) <= 1e-3, `${what} against the restored model: ${maxDiff(out, probabilities)}`);
  }
}

test('the uploaded model trains through the API and a worker at fixed:8 and dictionary:4; artifacts restore it', { timeout: 900_000 }, async () => {
  assert.deepEqual(model.folded, ['bn1', 'bn2']);
  const training = { trainLimit: 500, testLimit: LIMITS.testLimit, epochs: 1, batchSize: 50, learningRate: 0.01 };
  for (const representation of [{ kind: 'fixed', bits: 8 }, { kind: 'dictionary', bits: 4 }]) {
    const doc = await runToEnd({ name: `residual ${representation.kind}`, dataset: 'mnist', model: model.id, representation, training });
    assert.equal(doc.config.model, model.id);
    assert.equal(doc.epochs.length, 1);
    assert.ok(doc.metrics.testAccuracy! > 0.6, `${representation.kind}: ${doc.metrics.testAccuracy} (TF.js before: ${tfjsAccuracy})`);
    const bytes = await artifactOf(doc.id);
    const restored = restoreModel(bytes);
    assert.equal(restored.meta.model, model.id);
    assert.equal(restored.artifact.representation.kind, representation.kind);
    // Every conv and dense kernel is quantized under its layer name; the folded BatchNorms left no params behind.
    assert.deepEqual(
      restored.model.params.filter((p) => p.kind === 'kernel').map((p) => p.name),
      ['conv1/kernel', 'conv2/kernel', 'classes/kernel'],
    );
    assert.equal(restored.model.params.some((p) => p.kind === 'state'), false);
    const again = await evaluateArtifact(bytes, undefined, { dataDir: env.DATA_DIR });
    assert.equal(again.testAccuracy, doc.metrics.testAccuracy, 'the artifact alone reproduces the run accuracy');
    await checkExports(doc, bytes);
  }
});

test('the inference phase quantizes the pretrained weights without training (float32: TF.js accuracy to the image)', { timeout: 900_000 }, async () => {
  const training = { ...LIMITS, epochs: 3 };
  const f32 = await runToEnd({ dataset: 'mnist', model: model.id, phase: 'inference', training });
  assert.deepEqual(f32.epochs, []);
  const images = (a: number) => Math.round(a * LIMITS.testLimit);
  assert.ok(Math.abs(images(f32.metrics.testAccuracy!) - images(tfjsAccuracy)) <= 1, `quantlab ${f32.metrics.testAccuracy} vs TF.js ${tfjsAccuracy}`);
  const q4 = await runToEnd({ dataset: 'mnist', model: model.id, phase: 'inference', representation: { kind: 'dictionary', bits: 4 }, training });
  assert.deepEqual(q4.epochs, []);
  assert.ok(q4.metrics.testAccuracy! > tfjsAccuracy - 0.1, `dictionary:4 ${q4.metrics.testAccuracy} vs float32 ${f32.metrics.testAccuracy}`);
});
