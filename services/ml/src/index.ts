// @quantlab/ml: the training engine (datasets, models, backends, training loop) and the weight representations.
export { trainExperiment } from './training/train.ts';
export { RunInputError } from './training/types.ts';
export type { TrainHooks, TrainInput, TrainOutcome, TrainProgress, StopReason } from './training/types.ts';
export { initBackend, currentBackend, tfjsNodeAvailable, BackendError, BACKEND_CHOICES, type BackendChoice } from './backend/index.ts';
export { loadDataset, prepareDataset } from './datasets/index.ts';
export { buildModel, paramCount } from './models/index.ts';
export { Rng } from './random.ts';
export { restoreModel, evaluateArtifact, type ArtifactMeta, type RestoredModel } from './training/artifact-model.ts';
export { provenanceOf } from './training/provenance.ts';
