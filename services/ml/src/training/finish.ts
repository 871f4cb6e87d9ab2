/**
 * How a run ends: stopped early (its metrics so far), finished (packed with its representation, the artifact's decoded
 * weights evaluated: the figure `quantlab eval` reproduces), or, in the inference phase, started from a float32
 * baseline's weights instead of training.
 */
import { isUploadedModel, type EpochMetrics, type ExperimentConfig, type RunMetrics } from '@quantlab/shared';
import type { PreparedDataset } from '../datasets/index.ts';
import { paramCount } from '../models/index.ts';
import { RunInputError } from '../errors.ts';
import { restoreModel, evaluateWeights, type ArtifactMeta } from './artifact-model.ts';
import type { Compactor } from './compactor.ts';
import { trainingStateBytes, type RunState } from './run-state.ts';
import { modelEnergy } from './energy.ts';
import type { StopReason, TrainOutcome } from './types.ts';

function datasetInfo(data: PreparedDataset) {
  return {
    name: data.raw.name,
    train: data.train.count,
    test: data.test.count,
    inputShape: [...data.raw.shape],
    classes: data.raw.numClasses,
    ...(data.raw.classNames ? { classNames: data.raw.classNames } : {}),
    ...(data.raw.source ? { source: data.raw.source } : {}),
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
    trainingStateBytes: trainingStateBytes(s),
  };
}

export function stopped(reason: StopReason, s: RunState, epochs: EpochMetrics[], data: PreparedDataset, backend: string): TrainOutcome {
  return { status: reason, metrics: baseMetrics(s, backend), epochs, dataset: datasetInfo(data), artifact: null };
}

/**
 * Packs the final master weights with the representation, then measures the test accuracy of the artifact's decoded
 * weights: the figure `quantlab eval` reproduces from the artifact alone.
 */
export function finish(config: ExperimentConfig, s: RunState, epochs: EpochMetrics[], data: PreparedDataset, backend: string, compactor: Compactor): TrainOutcome {
  const layers = compactor.layers(s.weights);
  // A learned dictionary is packed as trained; every other representation is fitted to the final weights.
  if (!compactor.learned) compactor.quantizer.fit(layers);
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
    // An uploaded model travels with its artifact (quantlab eval and the exports rebuild it from the bytes alone).
    ...(isUploadedModel(s.model.name) && s.model.graph ? { graph: s.model.graph, params: s.model.params } : {}),
  };
  const packOnce = (m: ArtifactMeta) => compactor.quantizer.pack(layers, { float32: compactor.floatLayers(s.weights), meta: m as unknown as Record<string, unknown> });
  const restored = restoreModel(packOnce(meta));
  // Which test images the deployed model gets right: reports pair runs on the same images (McNemar) from this alone.
  const hits = new Uint8Array(Math.ceil(data.test.count / 8));
  const testAccuracy = evaluateWeights(s.model, restored.weights, data, data.norm, hits);
  // Pack again with the accuracy in the meta (packing rounds to nearest: the same codes).
  const artifact = packOnce({ ...meta, testAccuracy });
  const decoded = compactor.indices.map((i) => restored.weights[i]);
  const metrics = baseMetrics(s, backend);
  metrics.testAccuracy = testAccuracy;
  metrics.correct = Buffer.from(hits).toString('base64');
  metrics.weightBytes = { float32: paramCount(s.model) * 4, compact: artifact.length };
  metrics.compressionRatio = (paramCount(s.model) * 4) / artifact.length;
  metrics.weightError = compactor.quantizer.error(layers, decoded);
  metrics.energy = modelEnergy(s.model, config.representation, config.quantizeBiases);
  return { status: 'completed', metrics, epochs, dataset: datasetInfo(data), artifact };
}

/** Inference phase with a float32 baseline's artifact: its weights replace training. */
export function adoptBaseline(bytes: Uint8Array, config: ExperimentConfig, s: RunState, data: PreparedDataset): void {
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
