// cnn5 on the wasm backend with CIFAR-format files, quantized training, artifacts that restore the model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ExperimentConfig, RunMetrics, type ExperimentConfigInput } from '@quantlab/shared';
import { initBackend, trainExperiment, buildModel, paramCount, evaluateArtifact, restoreModel, RunInputError } from '@quantlab/ml';
import { writeCifarFolder } from './helpers/cifar-files.ts';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'quantlab-cnn5-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
before(async () => {
  assert.equal(await initBackend(TEST_BACKEND), TEST_BACKEND_NAME);
  writeCifarFolder(dataDir, 60, 100);
});

const cfg = (c: ExperimentConfigInput) => ExperimentConfig.parse(c);

test('cnn5 has the cifar10_quick shape: 145,578 parameters on 32x32x3, and adapts to 28x28x1', () => {
  assert.equal(paramCount(buildModel('cnn5', [32, 32, 3], 10)), 145_578);
  const m = buildModel('cnn5', [28, 28, 1], 10);
  assert.equal(paramCount(m), 143_978);
  assert.deepEqual(m.params.map((p) => p.name), ['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias', 'conv3/kernel', 'conv3/bias', 'fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias']);
});

test('the wasm backend trains cnn5 on 32x32x3 CIFAR-10 files, quantized (fixed:8), without leaks', async () => {
  const before = tf.memory().numTensors;
  const config = cfg({ dataset: 'cifar10', model: 'cnn5', representation: { kind: 'fixed', bits: 8 }, training: { epochs: 2, trainLimit: 300, testLimit: 100, batchSize: 50, learningRate: 0.02, augment: true } });
  const r = await trainExperiment({ config, dataDir });
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(r.metrics.backend, TEST_BACKEND_NAME);
  RunMetrics.parse(r.metrics);
  assert.deepEqual(r.dataset.inputShape, [32, 32, 3]);
  assert.ok(r.epochs[1].trainLoss < r.epochs[0].trainLoss, `loss falls: ${r.epochs.map((e) => e.trainLoss)}`);
  assert.ok(r.metrics.testAccuracy! > 0.3, `better than chance: ${r.metrics.testAccuracy}`);
  assert.ok(r.epochs.every((e) => typeof e.weightMse === 'number' && e.weightMse > 0));
  assert.equal(r.metrics.weightBytes!.compact, r.artifact!.length);
  assert.ok(r.metrics.compressionRatio! > 3.8 && r.metrics.compressionRatio! < 4, `ratio ${r.metrics.compressionRatio}`);
  assert.equal(r.metrics.weightError!.layers.length, 5, 'every conv and fc kernel quantized, biases not');
  // The artifact alone restores the model and reproduces the run's accuracy.
  const restored = restoreModel(r.artifact!);
  assert.equal(restored.meta.model, 'cnn5');
  const evaluated = await evaluateArtifact(r.artifact!, undefined, { dataDir });
  assert.equal(evaluated.testAccuracy, r.metrics.testAccuracy);
  assert.equal(evaluated.test, 100);
});

const small = { dataset: 'synthetic', model: 'mlp' } as const;

test('quantized training: weights take their values from the representation; resume is exact (stochastic rounding)', async () => {
  const config = cfg({ ...small, representation: { kind: 'fixed', bits: 3, rounding: 'stochastic' }, quantizeBiases: true, training: { epochs: 2, trainLimit: 400, testLimit: 100 } });
  const checkpoints: Uint8Array[] = [];
  const whole = await trainExperiment({ config, dataDir }, { onEpoch: (_e, ck) => void checkpoints.push(ck) });
  const resumed = await trainExperiment({ config, dataDir, resumeFrom: checkpoints[0] });
  assert.deepEqual(resumed.epochs.map((e) => [e.trainLoss, e.testAccuracy]), whole.epochs.slice(1).map((e) => [e.trainLoss, e.testAccuracy]));
  assert.equal(resumed.metrics.testAccuracy, whole.metrics.testAccuracy);
  assert.deepEqual(resumed.artifact, whole.artifact);
  const { weights, artifact } = restoreModel(whole.artifact!);
  assert.equal(artifact.layers.length, 4);
  for (const [i, w] of weights.entries()) {
    const distinct = new Set(w).size;
    assert.ok(distinct <= 8, `param ${i}: ${distinct} distinct values at 3 bits`);
  }
});

test('inference phase: quantizing the float32 baseline artifact equals training float32 and quantizing once', async () => {
  const training = { epochs: 1, trainLimit: 400, testLimit: 100, seed: 4 };
  const baseline = await trainExperiment({ config: cfg({ ...small, training }), dataDir });
  const repr = { kind: 'dictionary', bits: 2, scope: 'per-layer', init: 'nonuniform' } as const;
  const direct = await trainExperiment({ config: cfg({ ...small, phase: 'inference', representation: repr, training }), dataDir });
  const reused = await trainExperiment({ config: cfg({ ...small, phase: 'inference', representation: repr, training }), dataDir, baselineArtifact: baseline.artifact });
  assert.equal(reused.epochs.length, 0, 'no training when the baseline is given');
  assert.equal(reused.metrics.testAccuracy, direct.metrics.testAccuracy);
  assert.deepEqual(reused.artifact, direct.artifact);
  assert.ok(direct.epochs[0].weightMse! > 0, 'the inference phase reports the would-be weight error per epoch');
  const stochastic = { kind: 'fixed', bits: 3, rounding: 'stochastic' } as const;
  const directS = await trainExperiment({ config: cfg({ ...small, phase: 'inference', representation: stochastic, training }), dataDir });
  const reusedS = await trainExperiment({ config: cfg({ ...small, phase: 'inference', representation: stochastic, training }), dataDir, baselineArtifact: baseline.artifact });
  assert.deepEqual(reusedS.artifact, directS.artifact, 'stochastic rounding too: same draws either way');
  assert.ok(direct.metrics.testAccuracy! <= baseline.metrics.testAccuracy! + 0.05);
  assert.equal(direct.metrics.weightError!.unusedEntries !== undefined, true);
  await assert.rejects(
    trainExperiment({ config: cfg({ dataset: 'mnist', model: 'mlp', phase: 'inference', representation: repr, training }), dataDir, baselineArtifact: baseline.artifact }),
    (e: Error) => e instanceof RunInputError && /baseline artifact is mlp on synthetic/.test(e.message),
  );
});
