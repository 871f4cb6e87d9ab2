// The choices the forms offer, from the schemas' own value lists (schemas/choices.ts is free of zod, so importing
// its values keeps zod out of the bundle): a value the schema gains appears here without an edit.
export {
  DATASETS as DATASET_OPTIONS,
  MODELS as MODEL_OPTIONS,
  PHASES as PHASE_OPTIONS,
  RUN_STATUSES as STATUS_OPTIONS,
  REPRESENTATION_KINDS as KIND_OPTIONS,
  TRAINING_MASTERS as MASTER_OPTIONS,
  GRANULARITIES as GRANULARITY_OPTIONS,
  FIXED_RANGES as RANGE_OPTIONS,
  ROUNDINGS as ROUNDING_OPTIONS,
  DICTIONARY_SCOPES as SCOPE_OPTIONS,
  DICTIONARY_INITS as DICT_INIT_OPTIONS,
  DICTIONARY_UPDATES as UPDATE_OPTIONS,
  PRESETS as PRESET_OPTIONS,
  BUDGETS as BUDGET_OPTIONS,
} from '@quantlab/shared/schemas/choices';
