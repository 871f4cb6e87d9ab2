// Exports of real runs in real runtimes: cnn5 trained on MNIST through the API and a worker at fixed:8 and
// dictionary:4, exported with GET /experiments/:id/export. onnxruntime-node runs the ONNX model and TF.js loads the
// Layers zip (tf.loadLayersModel through an IOHandler over the unzipped bytes); both score the run's test accuracy on
// its test subset to ±1 image, and their logits agree with each other and with the model `quantlab eval` restores
// within 1e-3. The Python reader decodes the .npz to the project decoder's bits. `quantlab export-model` writes the
// same bytes from the API and from a local artifact file. Bad requests: 409 without an artifact, 400 on a bad format.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { unzipSync } from 'fflate';
import type { ExperimentConfigInput } from '@quantlab/shared';
import { initBackend, loadDataset, prepareDataset, restoreModel } from '@quantlab/ml';
import { fillBatch } from '../services/ml/src/datasets/batches.ts';
import { lifecycleStack, type Stack } from './helpers/lifecycle-stack.ts';
import { TEST_BACKEND } from './helpers/backend.ts';
import { quantlab } from './helpers/lifecycle-cli.ts';
import { onnxOps } from './helpers/onnx.ts';

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const dir = mkdtempSync(join(tmpdir(), 'ql-export-run-'));
let stack: Stack;
let served: Promise<string> | undefined;
/** The API on a loopback port, for the CLI (listened on once). */
const apiUrl = () => (served ??= stack.listen());

before(async () => {
  await initBackend(TEST_BACKEND);
  stack = await lifecycleStack('export-run', { worker: false });
});
after(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

const config = (representation: ExperimentConfigInput['representation']): ExperimentConfigInput => ({
  dataset: 'mnist',
  model: 'cnn5',
  representation,
  training: { epochs: 2, trainLimit: 1500, testLimit: 500, batchSize: 50, learningRate: 0.02, seed: 3 },
});

async function get(url: string): Promise<{ status: number; type: string; body: Buffer; json: () => { detail?: string; status?: number } }> {
  const res = await stack.app.inject({ method: 'GET', url });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: res.rawPayload, json: () => res.json() };
}

test('export answers 409 while a run has no artifact, 400 on a missing or unknown format, 404 for no run (problem+json)', async () => {
  const id = await stack.submit(config({ kind: 'fixed', bits: 8 })); // no worker yet: it stays queued
  const queued = await get(`/experiments/${id}/export?format=onnx`);
  assert.equal(queued.status, 409);
  assert.match(queued.type, /^application\/problem\+json/);
  assert.match(queued.json().detail!, new RegExp(`run ${id} has no artifact`));
  for (const query of ['?format=pdf', '', '?format=ONNX', '?format=onnx&extra=1']) {
    const bad = await get(`/experiments/${id}/export${query}`);
    assert.equal(bad.status, 400, query);
    assert.match(bad.type, /^application\/problem\+json/, query);
  }
  const missing = await get('/experiments/run_000000000000000000000000/export?format=npz');
  assert.equal(missing.status, 404);
  const r = await quantlab(['export-model', id, '--format', 'onnx', '--out', join(dir, 'never.onnx')], { QUANTLAB_URL: await apiUrl() });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^quantlab: GET /experiments/${id}/export\\?format=onnx: 409 run ${id} has no artifact.*\\n$`));
  assert.equal(existsSync(join(dir, 'never.onnx')), false, 'nothing written');
  const badFormat = await quantlab(['export-model', id, '--format', 'pdf', '--out', join(dir, 'never.onnx')]);
  assert.equal(badFormat.code, 2);
  assert.equal(badFormat.stderr, 'quantlab: --format: expected onnx, tfjs, npz, got "pdf"\n');
  await stack.app.inject({ method: 'DELETE', url: `/experiments/${id}` });
});

function argmaxHits(logits: Float32Array, labels: Int32Array, classes: number): number {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    if (best === labels[i]) hits++;
  }
  return hits;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

const sha = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

const CASES: { label: string; representation: ExperimentConfigInput['representation']; compactOps: string[] }[] = [
  { label: 'fixed:8', representation: { kind: 'fixed', bits: 8 }, compactOps: ['DequantizeLinear'] },
  { label: 'dictionary:4', representation: { kind: 'dictionary', bits: 4 }, compactOps: ['Cast', 'Gather', 'Mul'] },
];

for (const { label, representation, compactOps } of CASES) {
  test(`cnn5 on MNIST at ${label}: onnxruntime and TF.js score the run's accuracy, agree with quantlab eval's model within 1e-3; Python decodes the .npz bit for bit`, { timeout: 600_000 }, async (t) => {
    if (!stack.worker) await stack.startWorker();
    const id = await stack.submit(config(representation));
    const doc = await stack.waitFor(id, ['completed', 'failed'], 480_000);
    assert.equal(doc.status, 'completed', doc.error?.message);
    const artifact = (await get(`/experiments/${id}/artifact`)).body;
    const exports: Record<string, Buffer> = {};
    for (const format of ['onnx', 'tfjs', 'npz']) {
      const r = await get(`/experiments/${id}/export?format=${format}`);
      assert.equal(r.status, 200, `${format}: ${r.body.toString().slice(0, 200)}`);
      assert.equal(r.type, format === 'onnx' ? 'application/onnx' : 'application/zip');
      exports[format] = r.body;
    }

    // The run's test subset, normalized as in training (the artifact's meta says how): what quantlab eval reads.
    const restored = restoreModel(artifact);
    const { meta } = restored;
    const data = prepareDataset(await loadDataset('mnist', './data'), { trainLimit: 1, testLimit: meta.testLimit ?? undefined });
    const n = data.test.count;
    assert.equal(n, 500);
    const x = new Float32Array(n * 784);
    const labels = new Int32Array(n);
    fillBatch(data.test, Int32Array.from({ length: n }, (_, i) => i), 0, n, x, labels, { shape: meta.inputShape, norm: meta.normalization });
    const runHits = Math.round(doc.metrics!.testAccuracy! * n);

    const tensorsBefore = tf.memory().numTensors;
    const evaluated = tf.tidy(() => {
      const weights = restored.model.params.map((p, i) => tf.tensor(restored.weights[i], p.shape));
      return restored.model.forward(weights, tf.tensor4d(x, [n, ...meta.inputShape])).dataSync() as Float32Array;
    });
    assert.equal(tf.memory().numTensors, tensorsBefore);

    const info = onnxOps(exports.onnx);
    assert.equal(info.opset, 13);
    for (const op of compactOps) assert.equal(info.ops.filter((o) => o === op).length, 5, `${op} decodes each of the 5 kernels`);
    assert.equal(JSON.parse(info.metadata['quantlab.testAccuracy']), doc.metrics!.testAccuracy);
    const session = await ort.InferenceSession.create(exports.onnx);
    const onnxLogits = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [n, 28, 28, 1]) }))[session.outputNames[0]].data as Float32Array;
    await session.release();

    const files = unzipSync(exports.tfjs);
    const json = JSON.parse(new TextDecoder().decode(files['model.json'])) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
    const shard = files[json.weightsManifest[0].paths[0]];
    const layersModel = await tf.loadLayersModel({
      load: async () => ({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: shard.slice().buffer }),
    });
    const tfjsLogits = tf.tidy(() => (layersModel.predict(tf.tensor4d(x, [n, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
    layersModel.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore);

    const hits = { run: runHits, eval: argmaxHits(evaluated, labels, 10), onnx: argmaxHits(onnxLogits, labels, 10), tfjs: argmaxHits(tfjsLogits, labels, 10) };
    const diffs = { onnxEval: maxDiff(onnxLogits, evaluated), tfjsEval: maxDiff(tfjsLogits, evaluated), onnxTfjs: maxDiff(onnxLogits, tfjsLogits) };
    t.diagnostic(`${label}: correct of ${n}: ${JSON.stringify(hits)}; max |logit difference| ${JSON.stringify(diffs)}; sizes: artifact ${artifact.length} B, onnx ${exports.onnx.length} B, tfjs ${exports.tfjs.length} B, npz ${exports.npz.length} B`);
    assert.ok(hits.run > 0.3 * n, `the run learned (chance is a tenth) (${hits.run}/${n})`);
    assert.ok(Math.abs(hits.onnx - hits.run) <= 1, `onnx ${hits.onnx} vs run ${hits.run}`);
    assert.ok(Math.abs(hits.tfjs - hits.run) <= 1, `tfjs ${hits.tfjs} vs run ${hits.run}`);
    for (const [what, d] of Object.entries(diffs)) assert.ok(d <= 1e-3, `${what}: ${d}`);

    // The Python reader: every layer's float32 bytes equal the project's decoder's.
    const npzFile = join(dir, `${id}.npz`);
    writeFileSync(npzFile, exports.npz);
    const script = [
      'import hashlib, json, sys',
      "sys.path.insert(0, 'clients/python')",
      'from quantlab_client.artifact import read_npz',
      'art = read_npz(sys.argv[1])',
      'print(json.dumps({k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in art.weights.items()}))',
    ].join('\n');
    const py = spawnSync(python, ['-c', script, npzFile], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    assert.equal(py.status, 0, py.stderr);
    const expected = Object.fromEntries(restored.artifact.layers.map((l) => [l.name, sha(l.values)]));
    assert.deepEqual(JSON.parse(py.stdout), expected);

    // quantlab export-model: the API's bytes, and the same from the artifact file without the API.
    const url = await apiUrl();
    const artifactFile = join(dir, `${id}.qlab`);
    writeFileSync(artifactFile, artifact);
    for (const format of ['onnx', 'tfjs', 'npz']) {
      const viaApi = join(dir, `${id}.api.${format}`);
      const local = join(dir, `${id}.local.${format}`);
      const a = await quantlab(['export-model', id, '--format', format, '--out', viaApi], { QUANTLAB_URL: url });
      assert.equal(a.code, 0, a.stderr);
      assert.match(a.stderr, new RegExp(`^wrote ${viaApi}: ${format}, ${exports[format].length} bytes\\n$`));
      const b = await quantlab(['export-model', artifactFile, '--format', format, '--out', local]);
      assert.equal(b.code, 0, b.stderr);
      assert.deepEqual(readFileSync(viaApi), exports[format], `${format} via the API`);
      assert.deepEqual(readFileSync(local), exports[format], `${format} from the artifact file`);
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  });
}
