// An uploaded (imported) model in the training loop, without Redis: the inference phase quantizes the pretrained
// weights without training (float32: TF.js's own accuracy to the image), init pretrained vs random, a run resumed from
// a checkpoint equals the uninterrupted one (Dropout's masks come from the run's Rng), the artifact alone restores the
// model, and a model that does not fit the dataset fails with both shapes named.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ExperimentConfig, type ExperimentConfigInput } from '@quantlab/shared';
import { checkModelJson, importLayersModel } from '@quantlab/shared/models/tfjs-layers';
import { initBackend, trainExperiment, restoreModel, evaluateArtifact, RunInputError, type TrainOutcome } from '@quantlab/ml';
import type { UploadedModel } from '@quantlab/ml/training/types';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';
import { pretrain, residualModel, saveLayersModel } from './helpers/layers-model.ts';

const LIMITS = { trainLimit: 1000, testLimit: 300 };
let uploaded: UploadedModel;
let tfjsAccuracy: number;

before(async () => {
  assert.equal(await initBackend(TEST_BACKEND), TEST_BACKEND_NAME);
  const source = residualModel(6);
  tfjsAccuracy = await pretrain(source, 'mnist', LIMITS, 4);
  const saved = await saveLayersModel(source);
  source.dispose();
  const m = importLayersModel(checkModelJson(saved.modelJson), { files: saved.files });
  uploaded = { graph: m.graph, params: m.params, weights: m.weights, classes: m.numClasses };
});

const cfg = (c: Partial<ExperimentConfigInput> & { training?: object }) =>
  ExperimentConfig.parse({ dataset: 'mnist', model: 'mdl_local0001', ...c, training: { ...LIMITS, epochs: 1, batchSize: 50, learningRate: 0.01, ...c.training } });
const images = (acc: number) => Math.round(acc * LIMITS.testLimit);

test('inference phase, pretrained: float32 gets TF.js accuracy to the image without training; fixed:8 quantizes those weights', async () => {
  const start = tf.memory().numTensors;
  assert.ok(tfjsAccuracy > 0.7, `the pretrained model learned something: ${tfjsAccuracy}`);
  const f32 = await trainExperiment({ config: cfg({ phase: 'inference' }), dataDir: './data', uploadedModel: uploaded });
  assert.equal(f32.status, 'completed');
  assert.deepEqual(f32.epochs, [], 'no training');
  assert.ok(Math.abs(images(f32.metrics.testAccuracy!) - images(tfjsAccuracy)) <= 1, `quantlab ${f32.metrics.testAccuracy} vs TF.js ${tfjsAccuracy}`);
  const q8 = await trainExperiment({ config: cfg({ phase: 'inference', representation: { kind: 'fixed', bits: 8 } }), dataDir: './data', uploadedModel: uploaded });
  assert.ok(Math.abs(q8.metrics.testAccuracy! - f32.metrics.testAccuracy!) <= 0.02, `fixed:8 ${q8.metrics.testAccuracy} vs float32 ${f32.metrics.testAccuracy}`);
  // (The artifact also carries the graph: on a model this small that is a good part of its bytes.)
  assert.ok(q8.metrics.weightBytes!.compact < q8.metrics.weightBytes!.float32, JSON.stringify(q8.metrics.weightBytes));
  // The artifact alone rebuilds the model (graph and params in its meta) and reproduces the reported accuracy.
  const restored = restoreModel(q8.artifact!);
  assert.equal(restored.model.name, 'mdl_local0001');
  assert.deepEqual(restored.meta.graph, uploaded.graph);
  assert.deepEqual(restored.model.params, uploaded.params);
  const again = await evaluateArtifact(q8.artifact!, undefined, { dataDir: './data' });
  assert.equal(again.testAccuracy, q8.metrics.testAccuracy);
  assert.equal(tf.memory().numTensors, start, 'no tensor leaks');
});

test('training phase: init pretrained starts from the upload (a tiny learning rate keeps its accuracy), random from the seed', async () => {
  const slow = { learningRate: 1e-6, momentum: 0 };
  const pre = await trainExperiment({ config: cfg({ training: slow }), dataDir: './data', uploadedModel: uploaded });
  const rnd = await trainExperiment({ config: cfg({ init: 'random', training: slow }), dataDir: './data', uploadedModel: uploaded });
  assert.ok(Math.abs(images(pre.metrics.testAccuracy!) - images(tfjsAccuracy)) <= 3, `pretrained ${pre.metrics.testAccuracy} vs TF.js ${tfjsAccuracy}`);
  assert.ok(rnd.metrics.testAccuracy! < 0.4, `random init is near chance: ${rnd.metrics.testAccuracy}`);
});

test('fixed:8 training with Dropout: a run resumed from its epoch-1 checkpoint ends exactly as the uninterrupted run', async () => {
  const start = tf.memory().numTensors;
  const config = cfg({ representation: { kind: 'fixed', bits: 8 }, training: { epochs: 2, trainLimit: 200, testLimit: 100 } });
  let checkpoint: Uint8Array | null = null;
  const whole = await trainExperiment({ config, dataDir: './data', uploadedModel: uploaded }, { onEpoch: (e, c) => void (e.epoch === 1 && (checkpoint = c)) });
  const resumed: TrainOutcome = await trainExperiment({ config, dataDir: './data', uploadedModel: uploaded, resumeFrom: checkpoint });
  assert.equal(resumed.epochs.length, 1);
  assert.deepEqual(resumed.epochs[0].trainLoss, whole.epochs[1].trainLoss);
  assert.equal(resumed.metrics.testAccuracy, whole.metrics.testAccuracy);
  assert.deepEqual(resumed.artifact, whole.artifact);
  assert.equal(tf.memory().numTensors, start, 'no tensor leaks');
});

test('a model that does not fit the dataset, or a missing upload, fails the run naming both sides', async () => {
  await assert.rejects(
    trainExperiment({ config: cfg({ dataset: 'synthetic' }), dataDir: './data', uploadedModel: uploaded }),
    (e: Error) => e instanceof RunInputError && e.message === 'model mdl_local0001 takes inputs of shape [28, 28, 1]; dataset synthetic has images of shape [16, 16, 3]',
  );
  await assert.rejects(trainExperiment({ config: cfg({}), dataDir: './data' }), (e: Error) => e instanceof RunInputError && /model mdl_local0001 was not provided/.test(e.message));
  await assert.rejects(trainExperiment({ config: cfg({ model: 'mlp', init: 'pretrained' }), dataDir: './data' }), (e: Error) => e instanceof RunInputError && /init "pretrained" needs an uploaded model/.test(e.message));
});
