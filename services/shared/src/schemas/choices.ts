// The values of the config schemas' enums, owned here and kept free of zod: the schemas build their z.enum from
// these, and the dashboard's forms offer them without bundling zod (services/dashboard/src/options.ts).

/** The built-in datasets: every worker serves them (cifar10 only where its files are under DATA_DIR). */
export const DATASETS = ['mnist', 'fashion-mnist', 'cifar10', 'synthetic'] as const;
/** The built-in networks (docs/MODELS.md); an uploaded model is named by its id (mdl_…) instead. */
export const MODELS = ['cnn5', 'mlp', 'resnet20', 'vgg-small'] as const;
export const PHASES = ['training', 'inference'] as const;
/** What SGD updates: float32 master weights, or the compact weights themselves (docs/ENERGY.md). */
export const TRAINING_MASTERS = ['float32', 'compact'] as const;
export const REPRESENTATION_KINDS = ['float32', 'fixed', 'dictionary'] as const;
export const GRANULARITIES = ['layer', 'channel'] as const;
export const FIXED_RANGES = ['pow2', 'maxabs', 'mse'] as const;
export const ROUNDINGS = ['nearest', 'stochastic'] as const;
export const DICTIONARY_SCOPES = ['global', 'per-layer'] as const;
export const DICTIONARY_INITS = ['uniform', 'nonuniform'] as const;
export const DICTIONARY_UPDATES = ['refit', 'gradient'] as const;
/** stopped: ended early by its sweep's stopping rule (the run's `stopped`), keeping the epochs it trained. */
export const RUN_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled', 'stopped'] as const;
/** Named sweeps (POST /sweeps {preset}; GET /presets lists them) and the budgets they run at. */
export const PRESETS = ['paper', 'sensitivity'] as const;
export const BUDGETS = ['full', 'small'] as const;
