import { z } from 'zod';
import { MODEL_DEFAULT, TRAINING_DEFAULTS as D } from './defaults.ts';
import { MODEL_LAYERS, bitsPerLayerIssue, builtInLayers } from './model-layers.ts';
import { Representation } from './representation.ts';
import { DATASETS, MODELS, PHASES, TRAINING_MASTERS } from './choices.ts';

export { DATASETS, MODELS, PHASES, TRAINING_MASTERS };

/** Datasets a user brings, as `KIND:NAME` for a file or folder under the worker's DATA_DIR (docs/DATASETS.md). */
export const DATASET_KINDS = ['idx', 'npz', 'folder'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];
/** A name, never a path: letters, digits, _ and - only, so no request can reach outside DATA_DIR. */
export const DATASET_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export type BuiltinModel = (typeof MODELS)[number];
/** An uploaded model's id (POST /models mints them). */
export const MODEL_ID = /^mdl_[a-z0-9]{1,64}$/;
export const isUploadedModel = (model: string): boolean => MODEL_ID.test(model);
/** Where a model's first weights come from: the uploaded model's own (pretrained) or drawn from the run's seed. */
export const INITS = ['pretrained', 'random'] as const;
/** The default of `init`: uploaded models start from their own weights, the built-in networks from random ones. */
export const defaultInit = (model: string): (typeof INITS)[number] => (isUploadedModel(model) ? 'pretrained' : 'random');

/** Caps that keep one request from occupying the cluster for days. */
export const LIMITS = {
  maxEpochs: 200,
  maxBatchSize: 1024,
  maxNameLength: 200,
  maxSweepRuns: 500,
  maxSeeds: 20,
} as const;

const DATASET_RE = new RegExp(`^(?:${DATASETS.join('|')}|(?:${DATASET_KINDS.join('|')}):[A-Za-z0-9_-]{1,64})$`);
export const Dataset = z
  .string()
  .regex(DATASET_RE, `expected ${DATASETS.join(', ')}, or ${DATASET_KINDS.map((k) => `${k}:NAME`).join(', ')} with NAME of 1-64 letters, digits, _ or -`);

/** A dataset name taken apart: a built-in, or a user dataset's kind and name under DATA_DIR. */
export type DatasetRef = { kind: 'builtin'; name: (typeof DATASETS)[number] } | { kind: DatasetKind; name: string };
export function datasetRef(dataset: string): DatasetRef {
  if ((DATASETS as readonly string[]).includes(dataset)) return { kind: 'builtin', name: dataset as (typeof DATASETS)[number] };
  const at = dataset.indexOf(':');
  const kind = dataset.slice(0, at) as DatasetKind;
  const name = dataset.slice(at + 1);
  if (at < 0 || !DATASET_KINDS.includes(kind) || !DATASET_NAME.test(name)) throw new Error(`not a dataset name: "${dataset}"`);
  return { kind, name };
}
export const isBuiltinDataset = (dataset: string): boolean => (DATASETS as readonly string[]).includes(dataset);
export const Model = z.union([z.enum(MODELS), z.string().regex(MODEL_ID, 'an uploaded model id (mdl_…)')]);
export const Init = z.enum(INITS);

/** The input shape and classes of the built-in datasets (what an uploaded model is checked against at submission). */
export const BUILTIN_DATASET_SHAPES: Record<(typeof DATASETS)[number], { shape: [number, number, number]; classes: number }> = {
  mnist: { shape: [28, 28, 1], classes: 10 },
  'fashion-mnist': { shape: [28, 28, 1], classes: 10 },
  cifar10: { shape: [32, 32, 3], classes: 10 },
  synthetic: { shape: [16, 16, 3], classes: 10 },
};
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
  /**
   * float32: SGD updates float32 master weights, the compact weights are derived from them each step (straight-through).
   * compact: the weights exist only in compact form; each update is rounded stochastically onto the grid or between
   * dictionary entries (docs/REPRESENTATIONS.md). Training phase and a compact representation only.
   */
  master: z.enum(TRAINING_MASTERS).default(D.master),
});

export const ExperimentConfig = z.strictObject({
  name: z.string().min(1).max(LIMITS.maxNameLength).default('experiment'),
  dataset: Dataset,
  /** A built-in network, or an uploaded model's id (POST /models). */
  model: Model.default(MODEL_DEFAULT),
  /**
   * pretrained: start from the uploaded model's weights (its default; the inference phase then quantizes them without
   * training); random: draw them from the seed (the built-ins' only choice). Absent means the model's default.
   */
  init: Init.optional(),
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
}).superRefine((c, ctx) => {
  const r = c.representation;
  // Per-layer widths name the model's layers: an unknown name or a list of the wrong length is refused here, at
  // submission, rather than failing the run on a worker.
  if (r.kind !== 'float32' && r.bitsPerLayer !== undefined) {
    const layers = builtInLayers(c.model);
    const issue = layers
      ? bitsPerLayerIssue(r.bitsPerLayer, c.model, layers)
      : { path: [], message: `bitsPerLayer names the layers of a built-in model (${Object.keys(MODEL_LAYERS).join(', ')}); ${c.model} is an uploaded model: give one width in bits` };
    if (issue) ctx.addIssue({ code: 'custom', path: ['representation', 'bitsPerLayer', ...issue.path], message: issue.message });
  }
  if (r.kind === 'dictionary' && r.update === 'gradient' && c.phase === 'inference') {
    ctx.addIssue({ code: 'custom', path: ['representation', 'update'], message: 'update "gradient" trains the dictionary with the weights: phase "inference" does not train (use update "refit")' });
  }
  const why = compactMasterRefusal(c);
  if (why) ctx.addIssue({ code: 'custom', path: ['training', 'master'], message: why });
});

/**
 * Why `training.master: "compact"` cannot apply to a config, or null when it can (or the master is float32). A
 * compact master needs compact weights being trained: the training phase of fixed point or a dictionary; fixed point
 * updates by stochastic rounding, so its rounding must say so.
 */
export function compactMasterRefusal(c: {
  phase: string;
  representation: { kind: string; rounding?: string; update?: string; bitsPerLayer?: unknown };
  training: { master: string };
}): string | null {
  if (c.training.master !== 'compact') return null;
  if (c.representation.kind === 'float32') return 'master "compact" needs a compact representation (fixed or dictionary); float32 has nothing to compact';
  if (c.phase !== 'training') return 'master "compact" trains with compact weights: it needs phase "training" (the inference phase trains in float32)';
  if (c.representation.kind === 'fixed' && c.representation.rounding !== 'stochastic') return 'master "compact" updates fixed point by stochastic rounding: use rounding "stochastic"';
  // Not combined yet (each was built and tested against float32 master weights): refused rather than half-working.
  if (c.representation.update === 'gradient') return 'master "compact" does not combine with a learned dictionary (update "gradient") yet: use update "refit"';
  if (c.representation.bitsPerLayer !== undefined) return 'master "compact" does not combine with bitsPerLayer yet: give one width in bits';
  return null;
}

export type TrainingConfig = z.infer<typeof TrainingConfig>;
/** The effective config: every default filled in. */
export type ExperimentConfig = z.infer<typeof ExperimentConfig>;
/** What a client may send: defaults may be omitted. */
export type ExperimentConfigInput = z.input<typeof ExperimentConfig>;
