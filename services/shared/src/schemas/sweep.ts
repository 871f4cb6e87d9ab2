import { z } from 'zod';
import { Dataset, ExperimentConfig, LIMITS, Model, Phase, TRAINING_MASTERS, TrainingConfig } from './experiment.ts';
import { MAX_BITS_PER_LAYER, REPRESENTATION_KINDS } from './representation.ts';
import { BUDGETS, PRESETS } from './choices.ts';
import { RunDocument, RunStatus, StoppingRule } from './run.ts';
import { SWEEP_FIELDS, unknownFieldReason, type SweepField } from './sweep-fields.ts';

/** Caps on what a sweep request may spell out, checked before anything is expanded. */
export const SWEEP_LIMITS = {
  maxRepresentationEntries: 100,
  maxValuesPerField: 64,
  /** The largest representation (dictionary) has 9 fields; more in a pattern can only be a mistake or an attack. */
  maxPatternFields: 10,
} as const;

const Scalar = z.union([z.string().max(LIMITS.maxNameLength), z.number(), z.boolean()]);
/** A bitsPerLayer by layer name: one value in a pattern (a list in a pattern lists alternatives, so list-form widths cannot be one). */
const WidthsByLayer = z.record(z.string().min(1).max(LIMITS.maxNameLength), z.number()).refine((o) => Object.keys(o).length <= MAX_BITS_PER_LAYER, `at most ${MAX_BITS_PER_LAYER} layers`);
const PatternValue = z.union([Scalar, WidthsByLayer]);

/**
 * One entry of `vary.representation`: a representation whose fields may hold lists, which expand inside the entry
 * (`{"kind": "fixed", "bits": [2, 4, 8], "rounding": ["nearest", "stochastic"]}` is six representations). Every
 * expanded representation is then checked against the strict `Representation` schema, so unknown fields and
 * out-of-range values are refused there, naming the entry.
 */
/** A pattern's fields, for responses (RepresentationPattern's field count check is a one-way preprocess). */
export const PatternFields = z
  .object({ kind: z.union([z.enum(REPRESENTATION_KINDS), z.array(z.enum(REPRESENTATION_KINDS)).min(1).max(REPRESENTATION_KINDS.length)]) })
  .catchall(z.union([PatternValue, z.array(PatternValue).min(1).max(SWEEP_LIMITS.maxValuesPerField)]));
export const RepresentationPattern = z.preprocess((value, ctx) => {
  // Counted before zod looks at each field: validating 20,000 of them (a 220 KB body) took 100-300 ms of the event loop.
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > SWEEP_LIMITS.maxPatternFields) {
    ctx.addIssue({ code: 'custom', message: `a representation pattern has at most ${SWEEP_LIMITS.maxPatternFields} fields`, input: value });
    return {};
  }
  return value;
}, PatternFields);
export type RepresentationPattern = z.infer<typeof RepresentationPattern>;

/** A range a random search draws from: uniformly, or log-uniformly with `log`. Integer fields draw integers. */
function rangeOf(field: SweepField) {
  const bound = field.value as z.ZodNumber;
  return z
    .strictObject({ min: bound, max: bound, log: z.boolean().default(false) })
    .refine((r) => r.min <= r.max, { message: 'min must not be greater than max', path: ['min'] })
    .refine((r) => !r.log || r.min > 0, { message: 'a log range needs min > 0', path: ['min'] })
    .meta({ description: `A range for a random search (${field.integer ? 'integers' : 'numbers'})` });
}
export type VaryRange = { min: number; max: number; log: boolean };

function valuesOf(field: SweepField) {
  const list = z.array(field.value).min(1).max(SWEEP_LIMITS.maxValuesPerField);
  return (field.numeric ? z.union([list, rangeOf(field)]) : list).optional();
}

/**
 * What a sweep varies: `representation`, `phase` and `seeds` as before, and any field of the experiment by its dotted
 * path (`"training.learningRate"`, `"model"`, `"representation.bits"`): a list of values, or in a random search a
 * range `{min, max, log?}` for a numeric field. Unknown paths are refused with the list of the known ones.
 */
export const SweepVary = z.strictObject(
  {
    representation: z.array(RepresentationPattern).min(1).max(SWEEP_LIMITS.maxRepresentationEntries).optional(),
    phase: z.array(Phase).min(1).max(2).optional(),
    seeds: z.array(TrainingConfig.shape.seed.unwrap()).min(1).max(LIMITS.maxSeeds).optional(),
    ...Object.fromEntries([...SWEEP_FIELDS.values()].map((f) => [f.path, valuesOf(f)])),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? iss.keys.map((k) => unknownFieldReason(k) ?? k).join('; ') : undefined) },
);
export type SweepVary = {
  representation?: RepresentationPattern[];
  phase?: z.infer<typeof Phase>[];
  seeds?: number[];
  [path: string]: unknown[] | VaryRange | undefined;
};
/** The entries of `vary` that are not dotted field paths. */
export const VARY_OWN_ENTRIES = ['representation', 'phase', 'seeds'] as const;

export const SweepSearch = z.strictObject({
  /** grid: every combination; random: `samples` draws, one value per varied field each (ranges allowed). */
  kind: z.enum(['grid', 'random']).default('grid'),
  /** Configurations a random search draws (each runs once per seed). At most MAX_SWEEP_RUNS. */
  samples: z.number().int().min(1).max(100_000).optional(),
  /** Seed of the draws: the same request draws the same configurations. */
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
});
export type SweepSearch = z.infer<typeof SweepSearch>;


/** A sweep spelled out: a base config and what varies (a grid, or random draws), optionally with early stopping. */
export const GridSweepRequest = z
  .strictObject({
    name: z.string().min(1).max(LIMITS.maxNameLength).default('sweep'),
    base: ExperimentConfig,
    vary: SweepVary.default({}),
    search: SweepSearch.default({ kind: 'grid', seed: 0 }),
    stopping: StoppingRule.optional(),
  })
  .superRefine((req, ctx) => {
    if (req.search.kind === 'random' && req.search.samples === undefined) {
      ctx.addIssue({ code: 'custom', path: ['search', 'samples'], message: 'a random search needs the number of samples' });
    }
    if (req.search.kind === 'grid') {
      // A grid runs every combination: samples would be silently ignored, so a forgotten kind "random" is named.
      if (req.search.samples !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['search', 'samples'], message: 'samples is for search.kind "random"; a grid runs every combination' });
      }
      for (const [path, v] of Object.entries(req.vary)) {
        if (v && !Array.isArray(v)) ctx.addIssue({ code: 'custom', path: ['vary', path], message: `a range needs search.kind "random"; a grid needs the list of values of ${path}` });
      }
    }
  });

export { PRESETS, BUDGETS };

/** Drops every default of an object schema's fields, so a partial override never clobbers a preset's value. */
function overridesOf<S extends z.ZodRawShape>(shape: S) {
  const out: Record<string, z.ZodType> = {};
  for (const [k, v] of Object.entries(shape)) {
    const t = v as z.ZodType;
    out[k] = (t instanceof z.ZodDefault ? (t.unwrap() as z.ZodType) : t).optional();
  }
  return out as { [K in keyof S]: z.ZodOptional<S[K] extends z.ZodDefault<infer I> ? I : S[K]> };
}

/** Overrides of a preset's base config: any field but the grid's own (representation, phase). */
export const PresetOverrides = z.strictObject({
  name: z.string().min(1).max(LIMITS.maxNameLength).optional(),
  dataset: Dataset.optional(),
  model: Model.optional(),
  quantizeBiases: z.boolean().optional(),
  priority: ExperimentConfig.shape.priority.unwrap().optional(),
  keep: z.boolean().optional(),
  training: z.strictObject(overridesOf(TrainingConfig.shape)).optional(),
});
export type PresetOverrides = z.infer<typeof PresetOverrides>;

const SensitivityWidths = z.array(z.number().int().min(1).max(16)).min(1).max(16);

/**
 * A named grid, optionally at a smaller budget, with overrides of its base config. `paper`: issue 8's bit-width study.
 * `sensitivity` (sweeps/sensitivity.ts): one layer at a time at each width, plus every layer at each width, for
 * `POST /sweeps/:id/allocate`; it takes `representation` (the family, without bits), `widths` and `trainWidths`.
 */
export const PresetSweepRequest = z
  .strictObject({
    name: z.string().min(1).max(LIMITS.maxNameLength).optional(),
    preset: z.enum(PRESETS),
    budget: z.enum(BUDGETS).default('full'),
    base: PresetOverrides.default({}),
    /** Seeds to run; the preset's default when absent. */
    seeds: z.array(TrainingConfig.shape.seed.unwrap()).min(1).max(LIMITS.maxSeeds).optional(),
    /** sensitivity: the representation family (fixed point, or a per-layer dictionary) without bits; fixed pow2 by default. */
    representation: z
      .object({ kind: z.enum(['fixed', 'dictionary']) })
      .catchall(Scalar)
      .refine((r) => Object.keys(r).length <= SWEEP_LIMITS.maxPatternFields, `at most ${SWEEP_LIMITS.maxPatternFields} fields`)
      // The preset sets bits from widths; a width given here would be overwritten without a word.
      .refine((r) => !('bits' in r), { message: 'the family is given without bits: widths (and trainWidths) set them', path: ['bits'] })
      .optional(),
    /** sensitivity: the widths every layer is measured at (inference phase over the float32 baseline). */
    widths: SensitivityWidths.optional(),
    /** sensitivity: the widths at which the one-layer runs also train (training phase); none by default. */
    trainWidths: SensitivityWidths.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.preset === 'sensitivity') return;
    for (const key of ['representation', 'widths', 'trainWidths'] as const) {
      if (r[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} belongs to the "sensitivity" preset` });
    }
  });

export const SweepRequest = z.union([GridSweepRequest, PresetSweepRequest]);
export type GridSweepRequest = z.infer<typeof GridSweepRequest>;
export type PresetSweepRequest = z.infer<typeof PresetSweepRequest>;
export type SweepRequest = z.infer<typeof SweepRequest>;

/** A preset at one budget, as GET /presets lists it. */
export const PresetInfo = z.object({
  name: z.enum(PRESETS),
  budget: z.enum(BUDGETS),
  description: z.string(),
  /** The base config every run of the grid starts from (dataset is the default; override it). */
  base: ExperimentConfig,
  vary: z.object({
    representation: z.array(PatternFields),
    phase: z.array(Phase),
    seeds: z.array(z.number().int()),
    /** Training masters: compact applies to the training phase of stochastic fixed point and of dictionaries. */
    'training.master': z.array(z.enum(TRAINING_MASTERS)).optional(),
  }),
  /** The phases each `vary.representation` entry runs in, where they are not all of `vary.phase` (sensitivity). */
  entryPhases: z.array(z.array(Phase)).optional(),
  /** Runs the grid expands to, float32 baselines included. */
  runs: z.number().int(),
  /** Epochs each training-phase run trains (inference-phase runs reuse their baseline's weights). */
  epochBudget: z.string(),
});
export type PresetInfo = z.infer<typeof PresetInfo>;
export const PresetList = z.object({ items: z.array(PresetInfo) });

export const SweepAccepted = z.object({
  id: z.string(),
  runs: z.array(z.string()),
  /** The float32 baseline of each seed: {seed: runId}. */
  baselines: z.record(z.string(), z.string()),
  links: z.object({ self: z.string(), runs: z.string(), events: z.string().optional() }),
});
export type SweepAccepted = z.infer<typeof SweepAccepted>;

export const Stat = z.object({
  mean: z.number().nullable(),
  min: z.number().nullable(),
  max: z.number().nullable(),
  /** 95% t-interval of the mean over seeds; null with fewer than two runs. */
  ci95: z.object({ low: z.number(), high: z.number() }).nullable().optional(),
});
export type Stat = z.infer<typeof Stat>;

/** One completed run of a summary row: its own binomial interval and the paired test against its seed's baseline. */
export const SeedResult = z.object({
  runId: z.string(),
  seed: z.number().int(),
  testAccuracy: z.number(),
  /** Test images the accuracy counts. */
  test: z.number().int().nullable(),
  /** Wilson 95% interval of the test accuracy (binomial over the test images). */
  binomial95: z.object({ low: z.number(), high: z.number() }).nullable(),
  relativeAccuracy: z.number().nullable(),
  /**
   * McNemar's exact test against the float32 baseline of the same seed on the same test images: b = images only
   * this run gets right, c = images only the baseline gets right, p the two-sided p-value. Null without both bitsets.
   */
  mcnemar: z.object({ b: z.number().int(), c: z.number().int(), p: z.number() }).nullable(),
});
export type SeedResult = z.infer<typeof SeedResult>;

/** One point of the paper's figure: a series at one bit width, aggregated over seeds (completed runs only). */
export const SweepSummaryRow = z.object({
  series: z.string(),
  bits: z.number().int(),
  /** Completed runs aggregated in this row. */
  n: z.number().int(),
  /** All runs of this series and bit width, whatever their status. */
  runs: z.number().int(),
  testAccuracy: Stat,
  relativeAccuracy: Stat,
  compactBytes: z.number().nullable(),
  compressionRatio: z.number().nullable(),
  /** Mean over completed runs of metrics.trainingStateBytes.compact (null when no run reported it). */
  trainingStateBytes: z.number().nullable().default(null),
  /** Mean over completed runs of metrics.energy.totalPj: estimated picojoules per inference image. */
  energyPj: z.number().nullable().default(null),
  /** The completed runs, by seed. */
  seeds: z.array(SeedResult).default([]),
});
export type SweepSummaryRow = z.infer<typeof SweepSummaryRow>;

export const SWEEP_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export const SweepStatus = z.enum(SWEEP_STATUSES);
export type SweepStatus = z.infer<typeof SweepStatus>;

const Counts = z.object(Object.fromEntries(RunStatus.options.map((s) => [s, z.number().int()])) as Record<RunStatus, z.ZodNumber>);

/** What the sweep store keeps; GET /sweeps lists these. */
export const SweepRecord = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  preset: z.enum(PRESETS).nullable(),
  budget: z.enum(BUDGETS).nullable(),
  /** The request as received (after validation), so a sweep can be told apart and re-run. */
  request: z.unknown(),
  runIds: z.array(z.string()),
  baselines: z.record(z.string(), z.string()),
});
export type SweepRecord = z.infer<typeof SweepRecord>;

export const SweepListItem = SweepRecord.omit({ request: true }).extend({ status: SweepStatus, counts: Counts });
export type SweepListItem = z.infer<typeof SweepListItem>;
export const SweepList = z.object({ items: z.array(SweepListItem), nextCursor: z.string().nullable() });
export type SweepList = z.infer<typeof SweepList>;

export const SweepDocument = z.object({
  id: z.string(),
  name: z.string(),
  status: SweepStatus,
  createdAt: z.string(),
  preset: z.enum(PRESETS).nullable(),
  budget: z.enum(BUDGETS).nullable(),
  counts: Counts,
  baselines: z.record(z.string(), z.string()),
  runs: z.array(RunDocument),
  summary: z.array(SweepSummaryRow),
});
export type SweepDocument = z.infer<typeof SweepDocument>;
