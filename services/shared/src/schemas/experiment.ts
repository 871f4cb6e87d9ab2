import { z } from 'zod';
import { MODEL_DEFAULT, TRAINING_DEFAULTS as D } from './defaults.ts';
import { Representation } from './representation.ts';

export const DATASETS = ['mnist', 'fashion-mnist', 'cifar10', 'synthetic'] as const;
export const MODELS = ['cnn5', 'mlp'] as const;
export const PHASES = ['training', 'inference'] as const;

/** Caps that keep one request from occupying the cluster for days. */
export const LIMITS = {
  maxEpochs: 200,
  maxBatchSize: 1024,
  maxNameLength: 200,
  maxSweepRuns: 500,
  maxSeeds: 20,
} as const;

export const Dataset = z.enum(DATASETS);
export const Model = z.enum(MODELS);
export const Phase = z.enum(PHASES);

export const TrainingConfig = z.strictObject({
  // Defaults: TRAINING_DEFAULTS (schemas/defaults.ts), shared with the dashboard's New run form.
  epochs: z.number().int().min(1).max(LIMITS.maxEpochs).default(D.epochs),
  batchSize: z.number().int().min(1).max(LIMITS.maxBatchSize).default(D.batchSize),
  learningRate: z.number().positive().max(10).default(D.learningRate),
  momentum: z.number().min(0).max(0.999).default(D.momentum),
  weightDecay: z.number().min(0).max(0.1).default(D.weightDecay),
  /** constant; step: multiply by lrGamma every lrStepEpochs; cosine: decay to 0 over the run. */
  schedule: z.enum(['constant', 'step', 'cosine']).default(D.schedule),
  lrStepEpochs: z.number().int().min(1).max(LIMITS.maxEpochs).default(10),
  lrGamma: z.number().positive().max(1).default(0.1),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(D.seed),
  /** Use only the first N training / test images of the (fixed, stratified) split. */
  trainLimit: z.number().int().min(1).max(1_000_000).optional(),
  testLimit: z.number().int().min(1).max(1_000_000).optional(),
  /** Random crop (padding 4) and horizontal flip; for cifar10. */
  augment: z.boolean().default(false),
  /** Wall-clock budget; a run over it ends failed and keeps its finished epochs. */
  maxMinutes: z.number().positive().max(7 * 24 * 60).optional(),
});

export const ExperimentConfig = z.strictObject({
  name: z.string().min(1).max(LIMITS.maxNameLength).default('experiment'),
  dataset: Dataset,
  model: Model.default(MODEL_DEFAULT),
  /** training: train with compact weights; inference: train in float32, quantize once, evaluate. */
  phase: Phase.default('training'),
  representation: Representation.default({ kind: 'float32' }),
  /** Biases stay float32 unless this is set. */
  quantizeBiases: z.boolean().default(false),
  /** BullMQ priority: 1 runs first, 100 last. */
  priority: z.number().int().min(1).max(100).default(50),
  /** Exempt from RETENTION_DAYS. */
  keep: z.boolean().default(false),
  training: TrainingConfig.default(() => TrainingConfig.parse({})),
});

export type TrainingConfig = z.infer<typeof TrainingConfig>;
/** The effective config: every default filled in. */
export type ExperimentConfig = z.infer<typeof ExperimentConfig>;
/** What a client may send: defaults may be omitted. */
export type ExperimentConfigInput = z.input<typeof ExperimentConfig>;
