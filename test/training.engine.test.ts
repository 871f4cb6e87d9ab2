// The training loop: accuracy on real digits, hooks, determinism, resuming from a checkpoint, stopping, no leaks.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ExperimentConfig, EpochMetrics, type ExperimentConfigInput } from '@quantlab/shared';
import { initBackend, RunInputError, trainExperiment, type TrainOutcome, type TrainProgress } from '@quantlab/ml';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../services/ml/src/training/checkpoint.ts';

const cfg = (c: Partial<ExperimentConfigInput> & { training?: ExperimentConfigInput['training'] }) =>
  ExperimentConfig.parse({ dataset: 'synthetic', model: 'mlp', ...c });

const comparable = (r: TrainOutcome) => r.epochs.map(({ trainLoss, trainAccuracy, testAccuracy }) => ({ trainLoss, trainAccuracy, testAccuracy }));

before(async () => {
  assert.equal(await initBackend(TEST_BACKEND), TEST_BACKEND_NAME);
});

test('mlp on mnist: one epoch passes 0.8 test accuracy, hooks are called, no tensor leaks', async () => {
  const before = tf.memory().numTensors;
  const epochs: EpochMetrics[] = [];
  const checkpoints: Uint8Array[] = [];
  let stops = 0;
  const r = await trainExperiment(
    { config: cfg({ dataset: 'mnist', training: { epochs: 1 } }), dataDir: './data' },
    {
      onEpoch: (e, ck) => {
        epochs.push(EpochMetrics.parse(e));
        checkpoints.push(ck);
      },
      shouldStop: () => {
        stops++;
        return null;
      },
    },
  );
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  assert.equal(r.status, 'completed');
  assert.ok(r.metrics.testAccuracy! > 0.8, `test accuracy ${r.metrics.testAccuracy}`);
  assert.equal(r.metrics.backend, TEST_BACKEND_NAME);
  assert.equal(epochs.length, 1);
  assert.equal(checkpoints[0].length > 100_000, true);
  assert.equal(stops, Math.ceil(r.dataset.train / 100), 'shouldStop once per batch');
  // The epoch's learning rate is the mean of the rates its steps used (cosine from lr towards 0 over the one epoch).
  const steps = Math.ceil(r.dataset.train / 100);
  const lr = cfg({}).training.learningRate;
  const mean = Array.from({ length: steps }, (_, k) => 0.5 * lr * (1 + Math.cos((Math.PI * k) / steps))).reduce((a, b) => a + b, 0) / steps;
  assert.ok(Math.abs(epochs[0].learningRate! - mean) < 1e-12 * lr, `learning rate ${epochs[0].learningRate} vs ${mean}`);
  assert.equal(r.dataset.train + r.dataset.test, 10_000);
  assert.match(r.dataset.split, /stratified|per class/);
});

test('the same seed and config give the same metrics; another seed does not', async () => {
  const config = cfg({ training: { epochs: 2, trainLimit: 600, testLimit: 200, seed: 5 } });
  const a = await trainExperiment({ config, dataDir: './data' });
  const b = await trainExperiment({ config, dataDir: './data' });
  const c = await trainExperiment({ config: cfg({ training: { epochs: 2, trainLimit: 600, testLimit: 200, seed: 6 } }), dataDir: './data' });
  assert.deepEqual(comparable(a), comparable(b));
  assert.notDeepEqual(comparable(a), comparable(c));
});

test('resuming from the checkpoint after epoch 1 gives exactly the uninterrupted metrics', async () => {
  const config = cfg({ training: { epochs: 3, trainLimit: 500, testLimit: 200, seed: 2, augment: true, schedule: 'cosine' } });
  const checkpoints: Uint8Array[] = [];
  const whole = await trainExperiment({ config, dataDir: './data' }, { onEpoch: (_e, ck) => void checkpoints.push(ck) });
  const resumed = await trainExperiment({ config, dataDir: './data', resumeFrom: checkpoints[0] });
  assert.deepEqual(resumed.epochs.map((e) => e.epoch), [2, 3]);
  assert.deepEqual(comparable(resumed), comparable(whole).slice(1));
  assert.equal(resumed.metrics.testAccuracy, whole.metrics.testAccuracy);
  assert.equal(resumed.metrics.trainLoss, whole.metrics.trainLoss);
  await assert.rejects(
    trainExperiment({ config: cfg({ training: { epochs: 3, seed: 3 } }), dataDir: './data', resumeFrom: checkpoints[0] }),
    /different config/,
  );
});

test('onProgress fires inside epochs with a growing fraction, ending at 1', async () => {
  const seen: TrainProgress[] = [];
  await trainExperiment(
    { config: cfg({ training: { epochs: 2, trainLimit: 1000, batchSize: 20 } }), dataDir: './data', progressEveryMs: 1 },
    { onProgress: (p) => void seen.push(p) },
  );
  assert.ok(seen.length > 10, `${seen.length} progress reports`);
  assert.ok(seen.some((p) => p.epoch === 1 && p.fraction > 0 && p.fraction < 0.5), 'reports inside the first epoch');
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].fraction >= seen[i - 1].fraction);
  assert.equal(seen.at(-1)!.fraction, 1);
  assert.ok(seen.every((p) => p.epochs === 2 && p.imagesPerSec > 0));
});

test('shouldStop ends the run at a batch boundary with the finished epochs', async () => {
  let batches = 0;
  const before = tf.memory().numTensors;
  const r = await trainExperiment(
    { config: cfg({ training: { epochs: 3, trainLimit: 400, batchSize: 50 } }), dataDir: './data' },
    { shouldStop: () => (++batches > 12 ? 'cancel' : null) },
  );
  assert.equal(r.status, 'cancel');
  assert.equal(r.epochs.length, 1);
  assert.equal(r.artifact, null);
  assert.equal(tf.memory().numTensors, before);
});

test('a diverging run fails with a reason instead of reporting NaN metrics', async () => {
  const config = cfg({ training: { epochs: 8, learningRate: 10, momentum: 0.99, schedule: 'constant', trainLimit: 500, testLimit: 100 } });
  await assert.rejects(
    trainExperiment({ config, dataDir: './data' }, {}),
    (e: Error) => e instanceof RunInputError && /^numerical fault in epoch \d+, step \d+ of 5: .*diverged.*learningRate/.test(e.message),
  );
});

test('evaluation refuses non-finite outputs (finite weights that overflow float32) instead of scoring them', async () => {
  const { buildModel, loadDataset, prepareDataset } = await import('@quantlab/ml');
  const { evaluateSplit, weightTensors } = await import('../services/ml/src/training/evaluate.ts');
  const data = prepareDataset(await loadDataset('synthetic', './data'), { trainLimit: 10, testLimit: 40 });
  const model = buildModel('mlp', data.raw.shape, data.raw.numClasses);
  // |w| = 1e30 in both layers: the logits reach about 1e30 · 128 · 1e30 · 784, far beyond float32's 3.4e38.
  const weights = weightTensors(model, model.params.map((p) => new Float32Array(p.shape.reduce((a, b) => a * b, 1)).fill(1e30)));
  try {
    assert.throws(() => evaluateSplit(model, weights, data.test, data.norm), (e: Error) => e instanceof RunInputError && /^numerical fault in evaluation: the model's outputs on test images 1-40 are not finite/.test(e.message));
    // Finite weights score as before.
    const small = weightTensors(model, model.params.map((p) => new Float32Array(p.shape.reduce((a, b) => a * b, 1)).fill(1e-3)));
    assert.ok(evaluateSplit(model, small, data.test, data.norm) >= 0);
    tf.dispose(small);
  } finally {
    tf.dispose(weights);
  }
});

test('a NaN in the weights fails the run at the step it appears, naming the layer and the step', async () => {
  for (const representation of [{ kind: 'float32' as const }, { kind: 'dictionary' as const, bits: 3 }]) {
    const config = cfg({ representation, training: { epochs: 2, trainLimit: 300, testLimit: 100, seed: 4 } });
    let checkpoint: Uint8Array | null = null;
    await trainExperiment({ config: cfg({ representation, training: { ...config.training, epochs: 2 } }), dataDir: './data' }, {
      onEpoch: (_e, c) => {
        checkpoint ??= c;
      },
      shouldStop: () => (checkpoint ? 'shutdown' : null),
    });
    // The checkpoint after epoch 1 with one NaN in fc2/kernel (param 2 of the mlp): a damaged checkpoint, or what a
    // diverging update leaves; the dictionary would otherwise fit on it and zero every entry.
    const state = decodeCheckpoint(checkpoint!);
    state.weights[2][7] = NaN;
    await assert.rejects(
      trainExperiment({ config, dataDir: './data', resumeFrom: encodeCheckpoint(state) }),
      (e: Error) => e instanceof RunInputError && e.message.startsWith('numerical fault in epoch 2, step 1 of 3: the weights of layer fc2/kernel hold NaN (element 7)'),
    );
  }
});
