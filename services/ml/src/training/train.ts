/**
 * trainExperiment: one run, in-process. The master weights are float typed arrays that SGD updates; each step the
 * representation's quantizer turns them into compact weights, the forward and backward passes run on those (as
 * explicit inputs of tf.valueAndGrads), and their gradient updates the master weights (straight-through estimator).
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { configIdentityHash, type EpochMetrics, type ExperimentConfig, type RunMetrics } from '@quantlab/shared';
import { fillBatch, loadDataset, prepareDataset, imageSize, type PreparedDataset } from '../datasets/index.ts';
import { buildModel, initWeights, paramCount, type Model } from '../models/index.ts';
import { Rng } from '../random.ts';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointState } from './checkpoint.ts';
import { evaluateSplit, weightTensors } from './evaluate.ts';
import { restoreModel, evaluateWeights, type ArtifactMeta } from './artifact-model.ts';
import { firstNonFinite } from '../representations/channels.ts';
import { Compactor, refitsEachStep } from './quantization.ts';
import { learningRateAt } from './schedule.ts';
import { sgdStep } from './sgd.ts';
import { RunInputError, type TrainHooks, type TrainInput, type TrainOutcome } from './types.ts';

const PROGRESS_EVERY_MS = 2000;

/** The key checkpoints carried before config identity had one module: still accepted, so those runs resume. */
function legacyCheckpointKey(c: ExperimentConfig): string {
  const { dataset, model, phase, representation, quantizeBiases, training } = c;
  const { maxMinutes: _ignored, ...t } = training;
  return createHash('sha256').update(JSON.stringify({ dataset, model, phase, representation, quantizeBiases, t })).digest('hex');
}

interface RunState {
  model: Model;
  data: PreparedDataset;
  weights: Float32Array[];
  velocity: Float32Array[];
  dataRng: Rng;
  quantRng: Rng;
  epoch: number;
  trainMs: number;
  elapsedMs: number;
  imagesSeen: number;
  lastTrainLoss: number | null;
  lastTestAccuracy: number | null;
}

export async function trainExperiment(input: TrainInput, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  const { config } = input;
  const t = config.training;
  const raw = await loadDataset(config.dataset, input.dataDir);
  const data = prepareDataset(raw, t);
  const model = buildModel(config.model, raw.shape, raw.numClasses);
  const backend = tf.getBackend();
  const compactor = new Compactor(config, model);
  const key = configIdentityHash(config);
  const state = input.resumeFrom ? resume(input.resumeFrom, model, data, [key, legacyCheckpointKey(config)]) : fresh(model, data, t.seed);
  // Inference phase: train in float32 (or take the baseline's weights), quantize once at the end.
  const trainCompact = config.phase === 'training' && config.representation.kind !== 'float32' ? compactor : null;
  const refitEachStep = refitsEachStep(config);
  const epochsDone: EpochMetrics[] = [];
  if (config.phase === 'inference' && input.baselineArtifact) {
    adoptBaseline(input.baselineArtifact, config, state, data);
    return finish(config, state, epochsDone, data, backend, compactor);
  }

  const [h, w, c] = raw.shape;
  const size = imageSize(raw);
  const n = data.train.count;
  const batchSize = Math.min(t.batchSize, n);
  const steps = Math.ceil(n / batchSize);
  const xBuf = new Float32Array(batchSize * size);
  const yBuf = new Int32Array(batchSize);
  const decays = model.params.map((p) => p.kind === 'kernel');
  let lastProgress = Date.now();

  for (let epoch = state.epoch; epoch < t.epochs; epoch++) {
    const epochStart = performance.now();
    const order = state.dataRng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
    const augment = t.augment ? state.dataRng.fork() : null;
    let lossSum = 0;
    let correct = 0;
    let lrSum = 0;
    for (let step = 0; step < steps; step++) {
      const stop = hooks.shouldStop?.() ?? null;
      if (stop) return stopped(stop, state, epochsDone, data, backend);
      const from = step * batchSize;
      const count = Math.min(batchSize, n - from);
      fillBatch(data.train, order, from, count, xBuf, yBuf, { shape: raw.shape, norm: data.norm, augment });
      const where = { epoch: epoch + 1, step: step + 1, steps };
      checkFinite(model, state.weights, 'weights', where);
      const arrays = trainCompact ? trainCompact.apply(state.weights, state.quantRng, refitEachStep || step === 0).all : state.weights;
      const r = trainStep(model, arrays, xBuf.subarray(0, count * size), yBuf.subarray(0, count), [count, h, w, c]);
      if (!Number.isFinite(r.loss)) throw numericalFault(`the training loss is ${r.loss}`, where);
      checkFinite(model, r.grads, 'gradient', where);
      lossSum += r.loss * count;
      correct += r.correct;
      const lr = learningRateAt(t, epoch, step, steps);
      lrSum += lr;
      sgdStep(state.weights, state.velocity, r.grads, decays, { lr, momentum: t.momentum, weightDecay: t.weightDecay });
      if (Date.now() - lastProgress >= (input.progressEveryMs ?? PROGRESS_EVERY_MS) && hooks.onProgress) {
        lastProgress = Date.now();
        const seconds = (performance.now() - epochStart) / 1000;
        await hooks.onProgress({ epoch: epoch + 1, epochs: t.epochs, fraction: (epoch + (step + 1) / steps) / t.epochs, imagesPerSec: (from + count) / seconds });
      }
    }
    const trainMs = performance.now() - epochStart;
    // The last step's update is checked here (the others were checked before the step that followed them).
    checkFinite(model, state.weights, 'weights', { epoch: epoch + 1, step: steps, steps });
    // Test the model as it would be deployed: the compact weights rounded to nearest in the training phase (the
    // artifact's weights when this is the last epoch), so no stochastic draw decides a reported accuracy.
    const evalArrays = trainCompact ? trainCompact.deploy(state.weights, true) : null;
    const testAccuracy = evaluate(model, evalArrays?.all ?? state.weights, data);
    // The inference phase reports the error quantizing now would give, without using those weights.
    const errArrays = evalArrays ?? (config.representation.kind !== 'float32' ? compactor.deploy(state.weights, true) : null);
    const werr = errArrays ? compactor.quantizer.error(errArrays.layers, errArrays.compact) : null;
    state.epoch = epoch + 1;
    state.trainMs += trainMs;
    state.elapsedMs += performance.now() - epochStart;
    state.imagesSeen += n;
    state.lastTrainLoss = lossSum / n;
    state.lastTestAccuracy = testAccuracy;
    const metrics: EpochMetrics = {
      epoch: epoch + 1,
      trainLoss: lossSum / n,
      trainAccuracy: correct / n,
      testAccuracy,
      durationMs: Math.round(performance.now() - epochStart),
      imagesPerSec: n / (trainMs / 1000),
      // The mean of the rates this epoch's steps used (a cosine schedule moves within an epoch).
      learningRate: lrSum / steps,
      ...(werr ? { weightMse: werr.mse } : {}),
    };
    epochsDone.push(metrics);
    if (hooks.onEpoch) await hooks.onEpoch(metrics, encodeCheckpoint(snapshot(state, key)));
    if (hooks.onProgress) {
      lastProgress = Date.now();
      await hooks.onProgress({ epoch: epoch + 1, epochs: t.epochs, fraction: (epoch + 1) / t.epochs, imagesPerSec: metrics.imagesPerSec });
    }
  }

  return finish(config, state, epochsDone, data, backend, compactor);
}

/** Where in a run a check happens: epoch and step are 1-based. */
interface StepAt {
  epoch: number;
  step: number;
  steps: number;
}

/** A NaN or ±Inf fails the run at the step it appears: continuing would only spread it through every weight. */
function numericalFault(what: string, at: StepAt): RunInputError {
  return new RunInputError(
    `numerical fault in epoch ${at.epoch}, step ${at.step} of ${at.steps}: ${what}; the run diverged (lower training.learningRate) or its checkpoint is damaged`,
  );
}

/** Throws numericalFault naming the first param of `arrays` (weights or gradients, in param order) that is not finite. */
function checkFinite(model: Model, arrays: readonly Float32Array[], what: 'weights' | 'gradient', at: StepAt): void {
  for (let p = 0; p < arrays.length; p++) {
    const i = firstNonFinite(arrays[p]);
    if (i >= 0) throw numericalFault(`the ${what} of layer ${model.params[p].name} ${what === 'weights' ? 'hold' : 'holds'} ${arrays[p][i]} (element ${i})`, at);
  }
}

/** One SGD step's forward and backward pass; gradients w.r.t. the weights actually used (compact or master). */
function trainStep(model: Model, arrays: Float32Array[], x: Float32Array, y: Int32Array, shape: [number, number, number, number]) {
  const weights = weightTensors(model, arrays);
  try {
    return tf.tidy(() => {
      const xs = tf.tensor4d(x, shape);
      const labels = tf.tensor1d(y, 'int32');
      const onehot = tf.oneHot(labels, model.numClasses);
      let hits: tf.Scalar | undefined;
      const { value, grads } = tf.valueAndGrads((...ws: tf.Tensor[]) => {
        const logits = model.forward(ws, xs);
        hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32'))) as tf.Scalar;
        return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
      })(weights);
      const out = { loss: value.dataSync()[0], correct: hits!.dataSync()[0], grads: grads.map((g) => g.dataSync() as Float32Array) };
      hits!.dispose();
      return out;
    });
  } finally {
    for (const t of weights) t.dispose();
  }
}

function evaluate(model: Model, arrays: Float32Array[], data: PreparedDataset): number {
  const weights = weightTensors(model, arrays);
  try {
    return evaluateSplit(model, weights, data.test, data.norm);
  } finally {
    for (const t of weights) t.dispose();
  }
}

function fresh(model: Model, data: PreparedDataset, seed: number): RunState {
  const rng = new Rng(seed);
  const weights = initWeights(model, rng.fork());
  return {
    model,
    data,
    weights,
    velocity: weights.map((w) => new Float32Array(w.length)),
    dataRng: rng.fork(),
    quantRng: rng.fork(),
    epoch: 0,
    trainMs: 0,
    elapsedMs: 0,
    imagesSeen: 0,
    lastTrainLoss: null,
    lastTestAccuracy: null,
  };
}

function resume(bytes: Uint8Array, model: Model, data: PreparedDataset, keys: readonly string[]): RunState {
  const s = decodeCheckpoint(bytes);
  if (!keys.includes(s.configKey)) throw new RunInputError('checkpoint: it was written by a run with a different config');
  const same = s.params.length === model.params.length && s.params.every((p, i) => p.name === model.params[i].name && p.shape.join() === model.params[i].shape.join());
  if (!same) throw new RunInputError('checkpoint: its weights do not fit the model');
  return {
    model,
    data,
    weights: s.weights,
    velocity: s.velocity,
    dataRng: new Rng(Uint32Array.from(s.dataRng)),
    quantRng: new Rng(Uint32Array.from(s.quantRng)),
    epoch: s.epoch,
    trainMs: s.trainMs,
    elapsedMs: s.elapsedMs ?? s.trainMs,
    imagesSeen: s.imagesSeen,
    lastTrainLoss: s.lastTrainLoss,
    lastTestAccuracy: s.lastTestAccuracy,
  };
}

function snapshot(s: RunState, configKey: string): CheckpointState {
  return {
    epoch: s.epoch,
    configKey,
    params: s.model.params.map((p) => ({ name: p.name, shape: p.shape })),
    dataRng: Array.from(s.dataRng.state),
    quantRng: Array.from(s.quantRng.state),
    trainMs: s.trainMs,
    elapsedMs: s.elapsedMs,
    imagesSeen: s.imagesSeen,
    lastTrainLoss: s.lastTrainLoss,
    lastTestAccuracy: s.lastTestAccuracy,
    weights: s.weights,
    velocity: s.velocity,
  };
}

function datasetInfo(data: PreparedDataset) {
  return {
    name: data.raw.name,
    train: data.train.count,
    test: data.test.count,
    inputShape: [...data.raw.shape],
    split: data.raw.split,
    hash: data.hash,
  };
}

function baseMetrics(s: RunState, backend: string): RunMetrics {
  return {
    testAccuracy: s.lastTestAccuracy,
    trainLoss: s.lastTrainLoss,
    durationMs: Math.round(s.elapsedMs),
    backend,
    ...(s.trainMs > 0 ? { imagesPerSec: s.imagesSeen / (s.trainMs / 1000) } : {}),
  };
}

function stopped(reason: 'cancel' | 'shutdown' | 'timeout', s: RunState, epochs: EpochMetrics[], data: PreparedDataset, backend: string): TrainOutcome {
  return { status: reason, metrics: baseMetrics(s, backend), epochs, dataset: datasetInfo(data), artifact: null };
}

/**
 * Packs the final master weights with the representation, then measures the test accuracy of the artifact's decoded
 * weights: the figure `quantlab eval` reproduces from the artifact alone.
 */
function finish(config: ExperimentConfig, s: RunState, epochs: EpochMetrics[], data: PreparedDataset, backend: string, compactor: Compactor): TrainOutcome {
  const layers = compactor.layers(s.weights);
  compactor.quantizer.fit(layers);
  const meta: ArtifactMeta = {
    model: s.model.name,
    dataset: data.raw.name,
    inputShape: s.model.inputShape,
    numClasses: s.model.numClasses,
    normalization: data.norm,
    phase: config.phase,
    quantizeBiases: config.quantizeBiases,
    trainLimit: config.training.trainLimit ?? null,
    testLimit: config.training.testLimit ?? null,
    trainLoss: s.lastTrainLoss,
  };
  const packOnce = (m: ArtifactMeta) => compactor.quantizer.pack(layers, { float32: compactor.floatLayers(s.weights), meta: m as unknown as Record<string, unknown> });
  const restored = restoreModel(packOnce(meta));
  const testAccuracy = evaluateWeights(s.model, restored.weights, data, data.norm);
  // Pack again with the accuracy in the meta (packing rounds to nearest: the same codes).
  const artifact = packOnce({ ...meta, testAccuracy });
  const decoded = compactor.indices.map((i) => restored.weights[i]);
  const metrics = baseMetrics(s, backend);
  metrics.testAccuracy = testAccuracy;
  metrics.weightBytes = { float32: paramCount(s.model) * 4, compact: artifact.length };
  metrics.compressionRatio = (paramCount(s.model) * 4) / artifact.length;
  metrics.weightError = compactor.quantizer.error(layers, decoded);
  return { status: 'completed', metrics, epochs, dataset: datasetInfo(data), artifact };
}

/** Inference phase with a float32 baseline's artifact: its weights replace training. */
function adoptBaseline(bytes: Uint8Array, config: ExperimentConfig, s: RunState, data: PreparedDataset): void {
  const baseline = restoreModel(bytes);
  const m = baseline.meta;
  if (m.model !== config.model || m.dataset !== config.dataset) {
    throw new RunInputError(`baseline artifact is ${m.model} on ${m.dataset}, this run is ${config.model} on ${config.dataset}`);
  }
  if (baseline.artifact.representation.kind !== 'float32') throw new RunInputError('baseline artifact is not float32');
  s.weights = baseline.weights.map((w) => Float32Array.from(w));
  s.epoch = config.training.epochs;
  s.lastTrainLoss = m.trainLoss ?? null;
  // Evaluate with the normalization the weights were trained with.
  data.norm = m.normalization;
}
