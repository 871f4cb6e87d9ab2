import { z } from 'zod';
import { ExperimentConfig, LIMITS } from './experiment.ts';
import { RUN_STATUSES } from './choices.ts';

export { RUN_STATUSES };
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;
export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'stopped'];

/**
 * Early stopping inside a sweep, on the test accuracy each epoch reports. median: from epoch `warmup` on, a run below
 * the median of the other runs' accuracy at the same epoch (once at least `minPeers` reported it) stops. asha:
 * successive halving with rungs at minEpochs, minEpochs*reduction, ...; at a rung a run continues only while it is in
 * the top 1/reduction of the runs that reached that rung. Float32 baselines and inference-phase runs never stop.
 */
export const StoppingRule = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('median'),
    warmup: z.number().int().min(1).max(LIMITS.maxEpochs).default(1),
    minPeers: z.number().int().min(1).max(LIMITS.maxSweepRuns).default(1),
  }),
  z.strictObject({
    kind: z.literal('asha'),
    minEpochs: z.number().int().min(1).max(LIMITS.maxEpochs).default(1),
    reduction: z.number().int().min(2).max(10).default(3),
  }),
]);
export type StoppingRule = z.infer<typeof StoppingRule>;
export const StopDecision = z.object({ epoch: z.number().int(), reason: z.string() });
export type StopDecision = z.infer<typeof StopDecision>;

export const RunId = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/, 'not a run id');

export const LayerWeightError = z.object({
  name: z.string(),
  count: z.number().int(),
  mse: z.number(),
  sqnrDb: z.number().nullable(),
  saturated: z.number().optional(),
  unusedEntries: z.number().optional(),
  scale: z.number().optional(),
  step: z.number().optional(),
});

export const WeightError = z.object({
  mse: z.number(),
  sqnrDb: z.number().nullable(),
  /** fixed point: fraction of weights clipped at the ends of the range. */
  saturated: z.number().optional(),
  /** dictionary: entries no weight maps to. */
  unusedEntries: z.number().optional(),
  layers: z.array(LayerWeightError),
});

/**
 * Picojoules per inference image: the weights read once from DRAM at their stored bits, the multiply-accumulates at
 * fp32 (activations stay float32); and, labelled apart, the MACs as integer ones if activations had the weights' bits.
 */
export const InferenceEnergy = z.object({
  weightReadPj: z.number(),
  macPj: z.number(),
  totalPj: z.number(),
  /** Multiply-accumulates per image. */
  macs: z.number(),
  /** Not what the run computes: the same MACs with activations of `bits` bits (integer MACs of bits x bits). */
  ifActivations: z.object({ bits: z.number().int(), macPj: z.number(), totalPj: z.number() }),
});
export type InferenceEnergy = z.infer<typeof InferenceEnergy>;

export const EpochMetrics = z.object({
  epoch: z.number().int().min(1),
  trainLoss: z.number(),
  trainAccuracy: z.number(),
  testAccuracy: z.number(),
  durationMs: z.number(),
  imagesPerSec: z.number(),
  /** The mean of the rates the epoch's steps used. */
  learningRate: z.number().optional(),
  weightMse: z.number().optional(),
});

export const RunMetrics = z.object({
  testAccuracy: z.number().nullable(),
  trainLoss: z.number().nullable(),
  durationMs: z.number().nullable(),
  backend: z.string().nullable(),
  imagesPerSec: z.number().optional(),
  /** test accuracy / the float32 baseline's (sweeps). */
  relativeAccuracy: z.number().optional(),
  weightBytes: z.object({ float32: z.number(), compact: z.number() }).optional(),
  /**
   * Bytes training held for weights plus optimizer state (master weights or compact codes, scales and dictionaries,
   * float32 params, momentum), and what the same run holds with float32 weights; docs/REPRESENTATIONS.md.
   */
  trainingStateBytes: z.object({ float32: z.number(), compact: z.number() }).optional(),
  /** Estimated energy of one inference image (Horowitz, ISSCC 2014, 45 nm; docs/ENERGY.md). */
  energy: InferenceEnergy.optional(),
  compressionRatio: z.number().optional(),
  weightError: WeightError.optional(),
  /**
   * Which test images the final (deployed) model classifies correctly: a bitset, base64, bit i = byte i >> 3, bit
   * i & 7, in the order of the run's test split. Reports pair runs on the same images with it (McNemar's test).
   */
  correct: z.string().max(2_000_000).optional(),
});

export const DatasetInfo = z.object({
  name: z.string(),
  train: z.number().int(),
  test: z.number().int(),
  inputShape: z.array(z.number().int()),
  /** Number of classes, and their names where the source has them (an image folder's class folders). */
  classes: z.number().int().optional(),
  classNames: z.array(z.string()).optional(),
  /** Where the images came from: the files read (relative to DATA_DIR) or the npm package. */
  source: z.string().optional(),
  /** How the train/test split was made, e.g. "stratified by class, first 6/7 of each class in file order". */
  split: z.string(),
  /** sha256 of the images and labels actually used, train then test. */
  hash: z.string().optional(),
});

export const Provenance = z.object({
  quantlabVersion: z.string(),
  gitCommit: z.string().nullable(),
  tfjsVersion: z.string(),
  backend: z.string(),
  node: z.string(),
  workerId: z.string().nullable(),
  host: z.string(),
  /** sha256 of the effective config (defaults filled in), canonical JSON. */
  configHash: z.string(),
});

/** The packed artifact's format name (docs/ARTIFACT.md), RunDocument.artifact.format. */
export const ARTIFACT_FORMAT = 'quantlab-artifact/2';
/** Format version 1 (no per-channel scales); decodeArtifact still reads it. */
export const ARTIFACT_FORMAT_V1 = 'quantlab-artifact/1';
/**
 * The name workers wrote for the same format before it had one owner. Still accepted (imports of old exports);
 * RunStore reads stored runs with the current name.
 */
export const LEGACY_ARTIFACT_FORMAT = 'quantlab-packed';
export const ArtifactFormat = z.enum([ARTIFACT_FORMAT, ARTIFACT_FORMAT_V1, LEGACY_ARTIFACT_FORMAT]);

export const RunDocument = z.object({
  id: z.string(),
  name: z.string(),
  status: RunStatus,
  progress: z.object({ epoch: z.number().int(), epochs: z.number().int(), fraction: z.number().min(0).max(1) }),
  config: ExperimentConfig,
  metrics: RunMetrics,
  epochs: z.array(EpochMetrics),
  workerId: z.string().nullable(),
  error: z.object({ message: z.string() }).nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  sweepId: z.string().nullable().default(null),
  /** Representation without bits plus phase, e.g. fixed/maxabs/nearest/training (see seriesOf). */
  series: z.string(),
  /** The float32 run whose accuracy relativeAccuracy divides by (and whose weights inference-phase runs reuse). */
  baselineId: z.string().nullable().default(null),
  retryOf: z.string().nullable().default(null),
  attempts: z.number().int().default(0),
  dataset: DatasetInfo.nullable().default(null),
  provenance: Provenance.nullable().default(null),
  artifact: z.object({ bytes: z.number().int(), format: ArtifactFormat }).nullable().default(null),
  /** Provenance of a run that came from another cluster (POST /import): not trained here. */
  imported: z.object({ at: z.string(), exportedAt: z.string(), originalId: z.string() }).nullable().default(null),
  /** The sweep's early-stopping rule this run is judged by (null: never stopped, e.g. a baseline). */
  stopping: StoppingRule.nullable().default(null),
  /** Why and when the stopping rule ended the run (status `stopped`). */
  stopped: StopDecision.nullable().default(null),
});

export type EpochMetrics = z.infer<typeof EpochMetrics>;
export type RunMetrics = z.infer<typeof RunMetrics>;
export type WeightError = z.infer<typeof WeightError>;
export type LayerWeightError = z.infer<typeof LayerWeightError>;
export type DatasetInfo = z.infer<typeof DatasetInfo>;
export type Provenance = z.infer<typeof Provenance>;
export type RunDocument = z.infer<typeof RunDocument>;

export const RunList = z.object({ items: z.array(RunDocument), nextCursor: z.string().nullable() });
export type RunList = z.infer<typeof RunList>;
