// @quantlab/ml: the training engine (datasets, models, backends, training loop) and the weight representations.
export { trainExperiment } from './training/train.ts';
export { RunInputError } from './training/types.ts';
export type { TrainHooks, TrainInput, TrainOutcome, TrainProgress, StopReason } from './training/types.ts';
export { initBackend, selectBackend, currentBackend, tfjsNodeAvailable, BackendError, BACKEND_CHOICES, NATIVE_BACKEND, type BackendChoice, type BackendOptions, type BackendSelection } from './backend/index.ts';
export { loadDataset, prepareDataset } from './datasets/index.ts';
export { buildModel, paramCount } from './models/index.ts';
export { Rng } from './random.ts';
export { restoreModel, evaluateArtifact, type ArtifactMeta, type RestoredModel } from './training/artifact-model.ts';
export { provenanceOf } from './training/provenance.ts';
