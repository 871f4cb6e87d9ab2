// Kept free of zod, so the dashboard's bundle can start its forms from the API's own defaults.

/**
 * What a run trains with when a request leaves a field out: the schema's defaults (TrainingConfig), the CLI's and
 * the dashboard's New run form. With these, `quantlab train --dataset mnist` (cnn5) reaches 97.5% test accuracy in
 * its 8 epochs (docs/API.md gives the measurement); batch 100 is what the benchmarks compare at. Presets carry their
 * own recipes.
 */
export const TRAINING_DEFAULTS = {
  epochs: 8,
  batchSize: 100,
  learningRate: 0.05,
  momentum: 0.9,
  weightDecay: 5e-4,
  schedule: 'cosine',
  seed: 1,
  master: 'float32',
} as const;

export const MODEL_DEFAULT = 'cnn5';

/** The defaults of the representations' options (schemas/representation.ts), which the New run form starts from. */
export const REPRESENTATION_DEFAULTS = {
  granularity: 'layer',
  fixed: { range: 'maxabs', rounding: 'nearest' },
  dictionary: { scope: 'global', init: 'uniform', refine: 0, update: 'refit' },
} as const;
