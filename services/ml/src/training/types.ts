import type { DatasetInfo, EpochMetrics, ExperimentConfig, RunMetrics } from '@quantlab/shared';
import type { ModelGraph, ParamSpec } from '../models/index.ts';

export interface TrainProgress {
  epoch: number;
  epochs: number;
  /** Of the whole run, 0..1. */
  fraction: number;
  imagesPerSec: number;
}

/** Why training stopped early; checked once per batch. stopped: the sweep's early-stopping rule ended the run. */
export type StopReason = 'cancel' | 'shutdown' | 'timeout' | 'stopped';

export interface TrainHooks {
  /** At least every few seconds inside an epoch, so a dashboard moves. */
  onProgress?(p: TrainProgress): void | Promise<void>;
  /** After each epoch, with a checkpoint from which any worker can resume the run after this epoch. */
  onEpoch?(epoch: EpochMetrics, checkpoint: Uint8Array): void | Promise<void>;
  /** Once per batch. */
  shouldStop?(): StopReason | null;
}

export interface TrainInput {
  config: ExperimentConfig;
  /** Where cifar10 lives (cifar-10-batches-bin/ or cifar-10-binary.tar.gz). */
  dataDir: string;
  /** A checkpoint written by onEpoch: resume after its epoch. */
  resumeFrom?: Uint8Array | null;
  /** Inference phase: the float32 baseline's artifact, quantized instead of training again. */
  baselineArtifact?: Uint8Array | null;
  /** How often onProgress fires inside an epoch (default 2,000 ms). */
  progressEveryMs?: number;
  /** The uploaded model config.model names (the worker reads it from Redis, `quantlab train --model-file` from files). */
  uploadedModel?: UploadedModel | null;
}

/** An uploaded model as the graph interpreter builds it, with its own (pretrained) weights in param order. */
export interface UploadedModel {
  graph: ModelGraph;
  params: ParamSpec[];
  weights: Float32Array[];
  classes: number;
}

export interface TrainOutcome {
  /** completed, or why it stopped ('shutdown': the run continues elsewhere from the last checkpoint). */
  status: 'completed' | StopReason;
  metrics: RunMetrics;
  /** Epochs finished in this call (a resumed run reports only the new ones). */
  epochs: EpochMetrics[];
  dataset: DatasetInfo;
  /** The packed compact model (docs/ARTIFACT.md); null unless completed. */
  artifact: Uint8Array | null;
}

export { RunInputError } from '../errors.ts';
