import type { BuiltinModel, DATASETS, ExperimentConfig } from '@quantlab/shared/schemas/experiment';
import type { RunStatus } from '@quantlab/shared/schemas/run';
import type { Representation } from '@quantlab/shared/schemas/representation';

// The schemas are the source of truth; importing their values would bundle zod, so the choices are listed here
// and `satisfies Record<…>` makes the typecheck fail when a schema gains or loses a value.
const keys = <K extends string>(r: Record<K, true>) => Object.keys(r) as K[];

export const DATASET_OPTIONS = keys({ mnist: true, 'fashion-mnist': true, cifar10: true, synthetic: true } satisfies Record<(typeof DATASETS)[number], true>);
export const MODEL_OPTIONS = keys({ mlp: true, cnn5: true, resnet20: true, 'vgg-small': true } satisfies Record<BuiltinModel, true>);
export const PHASE_OPTIONS = keys({ training: true, inference: true } satisfies Record<ExperimentConfig['phase'], true>);
export const STATUS_OPTIONS = keys({ queued: true, running: true, completed: true, failed: true, cancelled: true, stopped: true } satisfies Record<RunStatus, true>);
export const KIND_OPTIONS = keys({ float32: true, fixed: true, dictionary: true } satisfies Record<Representation['kind'], true>);
