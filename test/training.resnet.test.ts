// ResNet-20 and VGG-Small: their shapes, training on the wasm backend (ResNet-20 from CIFAR-format files), every conv
// and dense kernel quantized under its layer name, BatchNorm's running statistics kept in float32 in the artifact,
// and the artifact alone restoring the model at the run's accuracy. Tiny data, one epoch: the machine is shared.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ExperimentConfig, RunMetrics } from '@quantlab/shared';
import { initBackend, trainExperiment, buildModel, evaluateArtifact, restoreModel } from '@quantlab/ml';
import { trainableParamCount } from '@quantlab/ml/models/index';
import { quantizedIndices } from '@quantlab/ml/training/compactor';
import { writeCifarFolder } from './helpers/cifar-files.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'quantlab-resnet-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
before(async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
  writeCifarFolder(dataDir, 8, 20);
});

test('resnet20: 269,722 trainable params on 32x32x3 (He et al.: 0.27 M), 19 convs + 1 fc, all quantized; adapts to 28x28x1', () => {
  const m = buildModel('resnet20', [32, 32, 3], 10);
  assert.equal(trainableParamCount(m), 269_722);
  const kernels = m.params.filter((p) => p.kind === 'kernel');
  assert.equal(kernels.length, 20);
  assert.equal(kernels.filter((p) => p.shape.length === 4).length, 19);
  assert.deepEqual(quantizedIndices(m, false).map((i) => m.params[i].name), kernels.map((p) => p.name));
  assert.ok(m.params.some((p) => p.name === 'stage3/block1/conv1/kernel' && p.shape.join() === '3,3,32,64'));
  // Option A shortcuts have no params: the only kernels are the 3x3 convs and the fc.
  assert.ok(kernels.every((p) => p.shape.length === 2 || (p.shape[0] === 3 && p.shape[1] === 3)));
  // BatchNorm's scales and shifts follow quantizeBiases; its running statistics are never quantized.
  const withBiases = quantizedIndices(m, true).map((i) => m.params[i].kind);
  assert.ok(withBiases.includes('scale') && withBiases.includes('bias') && !withBiases.includes('state'));
  const gray = buildModel('resnet20', [28, 28, 1], 10);
  assert.equal(trainableParamCount(gray), 269_722 - 9 * 16 * 2);
  const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
  const weights = gray.params.map((p) => tf.zeros(p.shape));
  const logits = gray.forward(weights, x);
  assert.deepEqual(logits.shape, [2, 10]);
  tf.dispose([x, logits, ...weights]);
});

test('vgg-small: 4,660,106 params on 32x32x3 (six 3x3 convs of 128-512 filters + 1 fc), 7 quantized kernels', () => {
  const m = buildModel('vgg-small', [32, 32, 3], 10);
  assert.equal(trainableParamCount(m), 4_660_106);
  assert.deepEqual(quantizedIndices(m, false).map((i) => m.params[i].name), ['conv1/kernel', 'conv2/kernel', 'conv3/kernel', 'conv4/kernel', 'conv5/kernel', 'conv6/kernel', 'fc/kernel']);
});

test('resnet20 trains on CIFAR-10 files (fixed:8, one epoch); the artifact names every layer and restores the run accuracy', { timeout: 300_000 }, async () => {
  const tensors = tf.memory().numTensors;
  const config = ExperimentConfig.parse({ dataset: 'cifar10', model: 'resnet20', representation: { kind: 'fixed', bits: 8 }, training: { epochs: 1, batchSize: 10, learningRate: 0.05 } });
  const r = await trainExperiment({ config, dataDir });
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leaks (BatchNorm moments included)');
  assert.equal(r.status, 'completed');
  RunMetrics.parse(r.metrics);
  assert.equal(r.dataset.train, 40);
  assert.equal(r.dataset.test, 20);
  assert.equal(r.dataset.classes, 10);
  assert.ok(Number.isFinite(r.epochs[0].trainLoss));
  // Per-layer weight errors for exactly the 20 kernels, under their names.
  const layers = r.metrics.weightError!.layers.map((l) => l.name);
  assert.equal(layers.length, 20);
  assert.ok(layers.includes('conv1/kernel') && layers.includes('stage2/block1/conv1/kernel') && layers.includes('fc/kernel'));
  const restored = restoreModel(r.artifact!);
  assert.equal(restored.meta.model, 'resnet20');
  assert.equal(restored.artifact.representation.kind, 'fixed');
  const names = restored.artifact.layers.map((l) => l.name);
  assert.equal(names.length, restored.model.params.length);
  assert.ok(names.includes('stage3/block3/bn2/variance'));
  // The running statistics moved away from their initial 0 / 1 during the epoch.
  const mean = restored.weights[restored.model.params.findIndex((p) => p.name === 'bn1/mean')];
  assert.ok(mean.some((v) => Math.abs(v) > 1e-3), 'bn1 running mean updated');
  const evaluated = await evaluateArtifact(r.artifact!, undefined, { dataDir });
  assert.equal(evaluated.testAccuracy, r.metrics.testAccuracy);
});

test('vgg-small trains a step on small images (dictionary:4) and packs all 7 kernels', { timeout: 300_000 }, async () => {
  const config = ExperimentConfig.parse({ dataset: 'synthetic', model: 'vgg-small', representation: { kind: 'dictionary', bits: 4 }, training: { epochs: 1, batchSize: 10, trainLimit: 10, testLimit: 10 } });
  const r = await trainExperiment({ config, dataDir });
  assert.equal(r.status, 'completed');
  assert.equal(r.metrics.weightError!.layers.length, 7);
  const restored = restoreModel(r.artifact!);
  assert.equal(restored.meta.model, 'vgg-small');
  // 4-bit codes for 4.66 M kernel weights: about 8x smaller than float32.
  assert.ok(r.metrics.compressionRatio! > 7, `ratio ${r.metrics.compressionRatio}`);
});
