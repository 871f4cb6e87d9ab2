/**
 * trainExperiment: one run, in-process; this file is the training loop (run-state.ts starts, resumes and checkpoints
 * a run, finish.ts ends it). The master weights are float typed arrays that SGD updates; each step the
 * representation's quantizer turns them into compact weights, the forward and backward passes run on those (as
 * explicit inputs of tf.valueAndGrads), and their gradient updates the master weights (straight-through estimator).
 * With training.master "compact" there is no float master: the gradient updates the codes (compact-master.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { fillBatch, loadDataset, prepareDataset, imageSize, type PreparedDataset } from '../datasets/index.ts';
import { defaultInit, isUploadedModel, type EpochMetrics } from '@quantlab/shared';
import { buildModel, graphModel, updateRunningStats, type ForwardOptions, type Model } from '../models/index.ts';
import type { Rng } from '../random.ts';
import { encodeCheckpoint } from './checkpoint.ts';
import { adoptBaseline, finish, stopped } from './finish.ts';
import { checkpointKeys, fresh, resume, snapshot } from './run-state.ts';
import { evaluateSplit, weightTensors } from './evaluate.ts';
import { firstNonFinite } from '../representations/channels.ts';
import { Compactor, refitsEachStep } from './compactor.ts';
import { learningRateAt } from './schedule.ts';
import { sgdStep } from './sgd.ts';
import { RunInputError, type TrainHooks, type TrainInput, type TrainOutcome } from './types.ts';
import { currentBackend } from '../backend/index.ts';

const PROGRESS_EVERY_MS = 2000;

export async function trainExperiment(input: TrainInput, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  const { config } = input;
  const t = config.training;
  const raw = await loadDataset(config.dataset, input.dataDir);
  const data = prepareDataset(raw, t);
  const model = modelFor(input, raw.shape, raw.numClasses);
  const pretrained = (config.init ?? defaultInit(config.model)) === 'pretrained';
  const backend = currentBackend();
  const compactor = new Compactor(config, model);
  const keys = checkpointKeys(config);
  const key = keys[0];
  // Inference phase: train in float32 (or take the baseline's weights), quantize once at the end.
  const trainCompact = config.phase === 'training' && config.representation.kind !== 'float32' ? compactor : null;
  // training.master "compact": the quantized params live as codes only (compact-master.ts); the schema allows it only
  // where trainCompact is set.
  const compactMaster = t.master === 'compact' ? trainCompact : null;
  const state = input.resumeFrom ? resume(input.resumeFrom, model, data, keys, compactMaster) : fresh(model, data, t.seed, compactMaster, pretrained ? input.uploadedModel!.weights : undefined);
  if (state.learnedDictionary) compactor.restoreLearner(state.learnedDictionary);
  const refitEachStep = refitsEachStep(config);
  // A compact master refits fixed point once an epoch (its grid stays put under the stochastic updates) and a
  // dictionary as refitEvery says.
  const compactRefitEachStep = config.representation.kind === 'dictionary' && config.representation.refitEvery === 'step';
  const epochsDone: EpochMetrics[] = [];
  if (config.phase === 'inference' && input.baselineArtifact) {
    adoptBaseline(input.baselineArtifact, config, state, data);
    return finish(config, state, epochsDone, data, backend, compactor);
  }
  // Inference phase on a pretrained model without a baseline run: its own weights are the float32 model, quantized
  // once without training.
  if (config.phase === 'inference' && pretrained && !input.resumeFrom) {
    state.epoch = t.epochs;
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
  const stateParams = model.params.flatMap((p, i) => (p.kind === 'state' ? [i] : []));
  const hasDropout = model.graph?.nodes.some((node) => node.op === 'dropout' && node.rate > 0) ?? false;
  let lastProgress = Date.now();

  for (let epoch = state.epoch; epoch < t.epochs; epoch++) {
    const epochStart = performance.now();
    const order = state.dataRng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
    const augment = t.augment ? state.dataRng.fork() : null;
    // Drawn only by models with Dropout, so the built-in networks consume the data stream exactly as before.
    const dropoutRng = hasDropout ? state.dataRng.fork() : null;
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
      let arrays: Float32Array[];
      if (state.compact) {
        if (compactRefitEachStep || step === 0) {
          state.compact.refit(state.weights);
          state.compact.decodeInto(state.weights);
        }
        arrays = state.weights;
      } else arrays = trainCompact ? trainCompact.apply(state.weights, state.quantRng, trainCompact.fitsAt(step, refitEachStep)).all : state.weights;
      const r = trainStep(model, arrays, xBuf.subarray(0, count * size), yBuf.subarray(0, count), [count, h, w, c], dropoutRng);
      if (!Number.isFinite(r.loss)) throw numericalFault(`the training loss is ${r.loss}`, where);
      checkFinite(model, r.grads, 'gradient', where);
      lossSum += r.loss * count;
      correct += r.correct;
      const lr = learningRateAt(t, epoch, step, steps);
      lrSum += lr;
      const opts = { lr, momentum: t.momentum, weightDecay: t.weightDecay };
      // A learned dictionary trains on this step's codes, so before SGD moves the master weights.
      trainCompact?.learn(r.grads, { lr, momentum: t.momentum });
      if (state.compact) state.compact.step(state.weights, state.velocity, r.grads, decays, opts, state.quantRng);
      else sgdStep(state.weights, state.velocity, r.grads, decays, opts);
      if (r.moments.length) updateRunningStats(stateParams.map((i) => state.weights[i]), r.moments, count * h * w);
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
    if (hooks.onEpoch) await hooks.onEpoch(metrics, encodeCheckpoint(snapshot(state, key, compactor.learnerState())));
    if (hooks.onProgress) {
      lastProgress = Date.now();
      await hooks.onProgress({ epoch: epoch + 1, epochs: t.epochs, fraction: (epoch + 1) / t.epochs, imagesPerSec: metrics.imagesPerSec });
    }
  }

  return finish(config, state, epochsDone, data, backend, compactor);
}

/**
 * The network a run trains: a built-in one, or the uploaded model config.model names (interpreted from its graph),
 * which must take the dataset's images and have one output per class.
 */
function modelFor(input: TrainInput, shape: [number, number, number], numClasses: number): Model {
  const { config } = input;
  const init = config.init ?? defaultInit(config.model);
  if (!isUploadedModel(config.model)) {
    if (init === 'pretrained') throw new RunInputError(`init "pretrained" needs an uploaded model; ${config.model} is built in and starts from random weights`);
    return buildModel(config.model, shape, numClasses);
  }
  const up = input.uploadedModel;
  if (!up) throw new RunInputError(`model ${config.model} was not provided to the training`);
  const inShape = up.graph.input.shape;
  if (inShape.join() !== shape.join()) {
    throw new RunInputError(`model ${config.model} takes inputs of shape [${inShape.join(', ')}]; dataset ${config.dataset} has images of shape [${shape.join(', ')}]`);
  }
  if (up.classes !== numClasses) throw new RunInputError(`model ${config.model} has ${up.classes} outputs; dataset ${config.dataset} has ${numClasses} classes`);
  return graphModel(up.graph, up.params, up.classes, config.model);
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
function checkFinite(model: Model, arrays: readonly (Float32Array | null)[], what: 'weights' | 'gradient', at: StepAt): void {
  for (let p = 0; p < arrays.length; p++) {
    const a = arrays[p];
    if (!a) continue; // no gradient: BatchNorm's running statistics
    const i = firstNonFinite(a);
    if (i >= 0) throw numericalFault(`the ${what} of layer ${model.params[p].name} ${what === 'weights' ? 'hold' : 'holds'} ${a[i]} (element ${i})`, at);
  }
}

/**
 * One SGD step's forward and backward pass; gradients w.r.t. the weights actually used (compact or master), null for
 * BatchNorm's running stats, which are not trained: the batch moments come back instead, to update them.
 */
function trainStep(model: Model, arrays: Float32Array[], x: Float32Array, y: Int32Array, shape: [number, number, number, number], dropoutRng: Rng | null) {
  const weights = weightTensors(model, arrays);
  const trainable = model.params.flatMap((p, i) => (p.kind === 'state' ? [] : [i]));
  const hasState = trainable.length < model.params.length;
  const moments: tf.Tensor[] = [];
  const opts: ForwardOptions | undefined = hasState || dropoutRng ? { ...(hasState ? { moments } : {}), ...(dropoutRng ? { dropoutRng } : {}) } : undefined;
  let result!: { loss: number; correct: number; grads: (Float32Array | null)[]; moments: Float32Array[] };
  try {
    tf.tidy(() => {
      const xs = tf.tensor4d(x, shape);
      const labels = tf.tensor1d(y, 'int32');
      const onehot = tf.oneHot(labels, model.numClasses);
      let hits: tf.Scalar | undefined;
      const { value, grads } = tf.valueAndGrads((...ws: tf.Tensor[]) => {
        const all = weights.slice();
        trainable.forEach((p, k) => (all[p] = ws[k]));
        const logits = model.forward(all, xs, opts);
        hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32'))) as tf.Scalar;
        return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
      })(trainable.map((i) => weights[i]));
      const out: (Float32Array | null)[] = model.params.map(() => null);
      trainable.forEach((p, k) => (out[p] = grads[k].dataSync() as Float32Array));
      result = { loss: value.dataSync()[0], correct: hits!.dataSync()[0], grads: out, moments: moments.map((m) => m.dataSync() as Float32Array) };
      hits!.dispose();
    });
  } finally {
    for (const t of weights) t.dispose();
    for (const t of moments) t.dispose();
  }
  return result;
}

function evaluate(model: Model, arrays: Float32Array[], data: PreparedDataset): number {
  const weights = weightTensors(model, arrays);
  try {
    return evaluateSplit(model, weights, data.test, data.norm);
  } finally {
    for (const t of weights) t.dispose();
  }
}

