// cnn5 training on wasm+onednn against plain wasm: the same loss curve, exact resume with one thread, what two
// threads keep, and no leaked tensor or heap memory. Without the addon these skip with the reason, except where
// QUANTLAB_REQUIRE_NATIVE=1 (CI), where they fail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ExperimentConfig, type ExperimentConfigInput } from '@quantlab/shared';
import { selectBackend, trainExperiment, type TrainOutcome } from '@quantlab/ml';
import { loadNative } from '@quantlab/native';
import { fallbacks } from '@quantlab/ml/kernels/native/common';
import { writeCifarFolder } from './helpers/cifar-files.ts';

const native = loadNative();
const skip = native.kernels || process.env.QUANTLAB_REQUIRE_NATIVE === '1' ? false : `the oneDNN addon is absent: ${native.reason}`;

const dataDir = mkdtempSync(join(tmpdir(), 'quantlab-native-'));
before(() => writeCifarFolder(dataDir, 40, 100));
after(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  if (native.kernels) await selectBackend('native', { threads: 1 });
});

const cfg = (representation: ExperimentConfigInput['representation'], epochs = 2) =>
  ExperimentConfig.parse({ dataset: 'cifar10', model: 'cnn5', representation, training: { epochs, trainLimit: 200, testLimit: 100, batchSize: 50, learningRate: 0.02, seed: 5 } });
const losses = (r: TrainOutcome) => r.epochs.map((e) => e.trainLoss);

test('float32 cnn5 on the same seed: wasm+onednn gives the loss curve of plain wasm within 1e-4 per epoch', { skip }, async () => {
  const config = cfg({ kind: 'float32' }, 3);
  assert.equal((await selectBackend('wasm')).name, 'wasm');
  const wasm = await trainExperiment({ config, dataDir });
  assert.equal((await selectBackend('native', { threads: 1 })).name, 'wasm+onednn');
  const refused = fallbacks.count;
  const onednn = await trainExperiment({ config, dataDir });
  assert.equal(fallbacks.count, refused, 'no native call fell back to wasm');
  assert.equal(wasm.metrics.backend, 'wasm');
  assert.equal(onednn.metrics.backend, 'wasm+onednn');
  losses(wasm).forEach((l, i) => assert.ok(Math.abs(l - losses(onednn)[i]) < 1e-4, `epoch ${i + 1}: wasm ${l}, wasm+onednn ${losses(onednn)[i]}`));
});

for (const representation of [{ kind: 'fixed', bits: 8 }, { kind: 'dictionary', bits: 4 }] as const) {
  test(`quantized (${representation.kind}) cnn5 on wasm+onednn with one thread: a resumed run equals the uninterrupted one`, { skip }, async () => {
    await selectBackend('native', { threads: 1 });
    const config = cfg(representation);
    const checkpoints: Uint8Array[] = [];
    const whole = await trainExperiment({ config, dataDir }, { onEpoch: (_e, ck) => void checkpoints.push(ck) });
    const resumed = await trainExperiment({ config, dataDir, resumeFrom: checkpoints[0] });
    assert.deepEqual(resumed.epochs.map((e) => [e.trainLoss, e.testAccuracy]), whole.epochs.slice(1).map((e) => [e.trainLoss, e.testAccuracy]));
    assert.deepEqual(resumed.artifact, whole.artifact);
  });
}

test('two oneDNN threads: runs repeat exactly, and stay within 1e-4 per epoch of one thread', { skip }, async () => {
  const config = cfg({ kind: 'fixed', bits: 8 });
  await selectBackend('native', { threads: 1 });
  const one = await trainExperiment({ config, dataDir });
  await selectBackend('native', { threads: 2 });
  const a = await trainExperiment({ config, dataDir });
  const b = await trainExperiment({ config, dataDir });
  assert.deepEqual(losses(a), losses(b), 'the same thread count repeats bit for bit');
  assert.deepEqual(a.artifact, b.artifact);
  losses(one).forEach((l, i) => assert.ok(Math.abs(l - losses(a)[i]) < 1e-4, `epoch ${i + 1}: 1 thread ${l}, 2 threads ${losses(a)[i]}`));
  await selectBackend('native', { threads: 1 });
});

test('an epoch on wasm+onednn leaks no tensor and no wasm heap memory', { skip }, async () => {
  await selectBackend('native', { threads: 1 });
  const config = cfg({ kind: 'dictionary', bits: 8 }, 1);
  await trainExperiment({ config, dataDir }); // first run: primitives and dataset caches
  const tensors = tf.memory().numTensors;
  const ids = tf.backend().numDataIds();
  const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.byteLength;
  await trainExperiment({ config, dataDir });
  assert.equal(tf.memory().numTensors, tensors, 'tensors');
  assert.equal(tf.backend().numDataIds(), ids, 'backend data ids');
  assert.equal((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.byteLength, heap, 'heap size');
});
