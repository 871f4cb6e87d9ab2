import { ExperimentConfig, LIMITS, compactMasterRefusal } from '../schemas/experiment.ts';
import { Representation, labelOf, seriesOf } from '../schemas/representation.ts';
import type { StoppingRule } from '../schemas/run.ts';
import { SWEEP_FIELDS } from '../schemas/sweep-fields.ts';
import { PRESETS, PresetSweepRequest, VARY_OWN_ENTRIES, type GridSweepRequest, type PresetInfo, type RepresentationPattern, type SweepRequest, type VaryRange } from '../schemas/sweep.ts';
import type { Grid } from './grid.ts';
import { paperText, presetGrid } from './presets.ts';
import { SENSITIVITY_DESCRIPTION, sensitivityGrid } from './sensitivity.ts';
import { MODEL_LAYERS, builtInLayers } from '../schemas/model-layers.ts';
import { configIdentity } from '../config-identity.ts';

export type { Grid };

const MASTER_PATH = 'training.master';

/** One run a sweep will queue. Baselines come first, then training-phase runs, then inference-phase runs. */
export interface PlannedRun {
  config: ExperimentConfig;
  seed: number;
  series: string;
  /** A float32 baseline the sweep's other runs divide their accuracy by. */
  isBaseline: boolean;
  /**
   * Names the baseline this run is compared with (for a baseline, itself): the seed, followed by the varied
   * non-representation fields when there are any ("1 learningRate=0.01"). The key of the sweep's `baselines` map.
   */
  baselineKey: string;
  /** The early-stopping rule this run is judged by; null for baselines and inference-phase runs. */
  stopping: StoppingRule | null;
}

export interface SweepPlan {
  name: string;
  base: ExperimentConfig;
  runs: PlannedRun[];
  /** baselineKey -> index into runs of that baseline. */
  baselineOf: Map<string, number>;
  stopping: StoppingRule | null;
}

export interface PlanIssue {
  path: (string | number)[];
  message: string;
  code?: string;
}

/** Why a sweep was refused; nothing has been queued when this is thrown. */
export class SweepPlanError extends Error {
  constructor(
    readonly kind: 'invalid' | 'too-large',
    message: string,
    readonly issues: PlanIssue[] = [],
  ) {
    super(message);
  }
}

export function gridOf(req: SweepRequest): Grid {
  if ('preset' in req && req.preset === 'sensitivity') {
    const model = req.base.model ?? 'cnn5';
    if (!builtInLayers(model)) {
      throw new SweepPlanError('invalid', `the sensitivity preset quantizes a built-in model's layers one at a time; ${model} is an uploaded model`, [
        { path: ['base', 'model'], message: `a built-in model (${Object.keys(MODEL_LAYERS).join(', ')})`, code: 'custom' },
      ]);
    }
    return sensitivityGrid(req);
  }
  if ('preset' in req) return presetGrid(req);
  const r = req as GridSweepRequest;
  return { name: r.name, base: r.base, vary: r.vary, search: r.search, stopping: r.stopping ?? null };
}

/** Every representation a pattern stands for: list-valued fields expand inside the entry, in field order. */
export function expandPattern(pattern: RepresentationPattern): Record<string, unknown>[] {
  // Combinations as index tuples, each turned into an object once: cost linear in fields x combinations (copying the
  // partial object per field, as a fold would, grows with the square of the field count).
  const fields = Object.entries(pattern).map(([key, value]) => [key, Array.isArray(value) ? value : [value]] as const);
  let combos: number[][] = [[]];
  for (const [, values] of fields) combos = combos.flatMap((c) => values.map((_, i) => [...c, i]));
  return combos.map((c) => Object.fromEntries(fields.map(([key, values], f) => [key, values[c[f]]])));
}

/** How many representations a pattern stands for, computed without expanding it. */
export function patternSize(pattern: RepresentationPattern): number {
  return Object.values(pattern).reduce<number>((n, v) => n * (Array.isArray(v) ? v.length : 1), 1);
}

/** One point of the search space: a representation (before its overridden fields), a phase and the path values. */
interface Point {
  repr: Record<string, unknown>;
  entry: number;
  phase: ExperimentConfig['phase'];
  values: [path: string, value: unknown][];
}

/**
 * Expands a sweep into the runs it queues. A grid is the product of the expanded representations, the phases and
 * every varied field's values; a random search draws `samples` points (one value per varied field: a list entry, or a
 * number from a range, integers for integer fields), seeded by `search.seed`. Each point runs once per seed. Every
 * config is checked against ExperimentConfig; identical configs run once. A float32 baseline runs for each distinct
 * setting of the non-representation fields and seed (same dataset, model and training, training phase), with a
 * priority number one lower so it runs before the runs compared with it. Throws SweepPlanError listing what is
 * invalid, or when the sweep exceeds `maxRuns`.
 */
export function planSweep(req: SweepRequest, maxRuns: number = LIMITS.maxSweepRuns): SweepPlan {
  const grid = gridOf(req);
  const { base } = grid;
  const search = grid.search ?? { kind: 'grid' as const, seed: 0 };
  const patterns = grid.vary.representation ?? [base.representation as RepresentationPattern];
  const phases = grid.vary.phase ?? [base.phase];
  const seeds = grid.vary.seeds ?? [base.training.seed];
  const paths = Object.entries(grid.vary).filter(([k, v]) => !(VARY_OWN_ENTRIES as readonly string[]).includes(k) && v !== undefined) as [string, unknown[] | VaryRange][];

  // Refuse an absurd request before expanding it, so it cannot make the API allocate millions of configs.
  const reprCount = patterns.reduce((n, p) => n + patternSize(p), 0);
  if (search.kind === 'random') {
    const samples = search.samples ?? 0;
    if (samples > maxRuns) {
      throw new SweepPlanError('invalid', `search.samples is ${samples}; a sweep may queue at most ${maxRuns} runs (MAX_SWEEP_RUNS)`, [
        { path: ['search', 'samples'], message: `${samples} samples > the sweep limit of ${maxRuns}`, code: 'too_big' },
      ]);
    }
  } else {
    const raw = reprCount * phases.length * paths.reduce((n, [, v]) => n * (v as unknown[]).length, 1) * seeds.length + seeds.length;
    if (raw > maxRuns * 10) throw tooLarge(raw, maxRuns);
  }

  const reprs = patterns.flatMap((pattern, entry) => expandPattern(pattern).map((repr) => ({ repr, entry })));
  const points: Point[] = [];
  if (search.kind === 'random') {
    const rand = mulberry32(search.seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.min(xs.length - 1, Math.floor(rand() * xs.length))];
    for (let i = 0; i < (search.samples ?? 0); i++) {
      const r = pick(reprs);
      const phase = pick(phases);
      points.push({ ...r, phase, values: paths.map(([path, v]) => [path, Array.isArray(v) ? pick(v) : draw(v, SWEEP_FIELDS.get(path)?.integer ?? false, rand)]) });
    }
  } else {
    let combos: [string, unknown][][] = [[]];
    for (const [path, v] of paths) combos = combos.flatMap((c) => (v as unknown[]).map((x) => [...c, [path, x] as [string, unknown]]));
    for (const r of reprs) {
      for (const phase of phases) {
        if (grid.entryPhases?.[r.entry] && !grid.entryPhases[r.entry].includes(phase)) continue;
        for (const values of combos) points.push({ ...r, phase, values });
      }
    }
  }

  const issues: PlanIssue[] = [];
  const seen = new Set<string>();
  const baselines: PlannedRun[] = [];
  const baselineKeys = new Map<string, string>();
  const training: PlannedRun[] = [];
  const inference: PlannedRun[] = [];

  for (const point of points) {
    if (issues.length >= 20) break;
    const settings = point.values.filter(([p]) => !p.startsWith('representation.'));
    const reprValues = Object.fromEntries(point.values.filter(([p]) => p.startsWith('representation.')).map(([p, v]) => [p.slice('representation.'.length), v]));
    const repr = { ...point.repr, ...reprValues };
    const parsedRepr = Representation.safeParse(repr);
    if (!parsedRepr.success) {
      for (const issue of parsedRepr.error.issues.slice(0, 3)) {
        const field = issue.path.map(toKey);
        const path = typeof field[0] === 'string' && `representation.${field[0]}` in grid.vary ? ['vary', `representation.${field[0]}`] : ['vary', 'representation', point.entry, ...field];
        issues.push({ path, message: `${JSON.stringify(repr)}: ${issue.message}`, code: issue.code });
      }
      continue;
    }
    // A varied training.master runs compact only where it applies (training-phase fixed point with stochastic
    // rounding, dictionaries); elsewhere the float32-master point of the same grid is the run.
    const master = settings.find(([p]) => p === MASTER_PATH)?.[1];
    if (master === 'compact' && (compactMasterRefusal({ phase: point.phase, representation: parsedRepr.data, training: { master } }) || grid.compactMasterFor?.(parsedRepr.data) === false)) continue;
    for (const seed of seeds) {
      const input = withPaths({ ...base, representation: parsedRepr.data, phase: point.phase, training: { ...base.training, seed } }, settings);
      const parsed = ExperimentConfig.safeParse(input);
      if (!parsed.success) {
        for (const issue of parsed.error.issues.slice(0, 3)) issues.push({ path: issue.path.map(toKey), message: `${describe(repr, settings)} (${point.phase}, seed ${seed}): ${issue.message}`, code: issue.code });
        continue;
      }
      // The baseline of this setting and seed: float32, training phase, float32 master (the master is part of a
      // series, not of the baseline), the same everything else.
      const baselineConfig = ExperimentConfig.parse({
        ...parsed.data,
        representation: { kind: 'float32' },
        phase: 'training',
        priority: Math.max(1, base.priority - 1),
        training: { ...parsed.data.training, master: 'float32' },
      });
      const bKey = configIdentity(baselineConfig);
      let baselineKey = baselineKeys.get(bKey);
      if (baselineKey === undefined) {
        const baselineSettings = settings.filter(([p]) => p !== MASTER_PATH);
        baselineKey = baselineSettings.length ? `${seed} ${labelOfSettings(baselineSettings)}` : String(seed);
        baselineKeys.set(bKey, baselineKey);
        seen.add(bKey);
        baselines.push({ config: baselineConfig, seed, series: seriesOf(baselineConfig.representation, 'training'), isBaseline: true, baselineKey, stopping: null });
      }
      const key = configIdentity(parsed.data);
      if (seen.has(key)) continue;
      seen.add(key);
      const phase = parsed.data.phase;
      (phase === 'training' ? training : inference).push({
        config: parsed.data,
        seed,
        series: seriesOf(parsed.data.representation, phase, parsed.data.model, parsed.data.training.master),
        isBaseline: false,
        baselineKey,
        stopping: phase === 'training' ? (grid.stopping ?? null) : null,
      });
    }
  }
  if (issues.length > 0) throw new SweepPlanError('invalid', `${issues.length} combination(s) of the sweep are invalid; nothing was queued`, issues.slice(0, 20));

  const runs = [...baselines, ...training, ...inference];
  if (runs.length > maxRuns) throw tooLarge(runs.length, maxRuns);
  if (grid.stopping) checkStopping(grid.stopping, training);
  const labelled = new Map(baselines.map((b) => [b.baselineKey, b]));
  for (const run of runs) run.config.name = nameOf(grid.name, run, labelled.size > seeds.length);
  return { name: grid.name, base, runs, baselineOf: new Map(baselines.map((b, i) => [b.baselineKey, i])), stopping: grid.stopping ?? null };
}

/** A stopping rule must be able to decide something: two runs to compare, and an epoch at which it may stop one. */
function checkStopping(rule: StoppingRule, stoppable: PlannedRun[]): void {
  if (stoppable.length < 2) {
    throw new SweepPlanError('invalid', `a stopping rule compares the sweep's runs with each other, and this sweep has ${stoppable.length} run(s) it could stop (float32 baselines and inference-phase runs are never stopped)`, [
      { path: ['stopping'], message: `${stoppable.length} training-phase run(s) besides the baselines; a stopping rule needs at least 2`, code: 'too_small' },
    ]);
  }
  const longest = Math.max(...stoppable.map((r) => r.config.training.epochs));
  const [field, first] = rule.kind === 'median' ? ['warmup', rule.warmup] : ['minEpochs', rule.minEpochs];
  if (first >= longest) {
    throw new SweepPlanError('invalid', `stopping.${field} is ${first}, but no run trains more than ${longest} epochs: the rule could never stop one`, [
      { path: ['stopping', field], message: `${field} ${first} must be below the runs' epochs (${longest})`, code: 'too_big' },
    ]);
  }
}

/** A value from a range: uniform or log-uniform, an integer for integer fields. */
function draw(range: VaryRange, integer: boolean, rand: () => number): number {
  const u = rand();
  if (integer) {
    const lo = Math.ceil(range.min);
    const hi = Math.floor(range.max);
    const v = range.log ? Math.floor(Math.exp(Math.log(lo) + u * (Math.log(hi + 1) - Math.log(lo)))) : lo + Math.floor(u * (hi - lo + 1));
    return Math.min(hi, Math.max(lo, v));
  }
  const v = range.log ? Math.exp(Math.log(range.min) + u * (Math.log(range.max) - Math.log(range.min))) : range.min + u * (range.max - range.min);
  // Six significant digits: readable in names and tables, and still a continuous search.
  return Math.min(range.max, Math.max(range.min, Number(v.toPrecision(6))));
}

/** A small seeded generator (mulberry32): the same search.seed draws the same points on every machine. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The config with each dotted path set (objects along the path copied, never shared with the base). */
function withPaths(config: Record<string, unknown>, values: [string, unknown][]): Record<string, unknown> {
  const out = { ...config };
  for (const [path, value] of values) {
    const parts = path.split('.');
    let obj = out;
    for (const part of parts.slice(0, -1)) {
      obj[part] = { ...(obj[part] as Record<string, unknown>) };
      obj = obj[part] as Record<string, unknown>;
    }
    obj[parts[parts.length - 1]] = value;
  }
  return out;
}

function labelOfSettings(settings: [string, unknown][]): string {
  return settings.map(([p, v]) => `${p.slice(p.lastIndexOf('.') + 1)}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

function describe(repr: Record<string, unknown>, settings: [string, unknown][]): string {
  return settings.length ? `${JSON.stringify(repr)} ${labelOfSettings(settings)}` : JSON.stringify(repr);
}

function tooLarge(n: number, max: number): SweepPlanError {
  return new SweepPlanError('too-large', `the sweep expands to ${n} runs; at most ${max} are allowed`, [{ path: ['vary'], message: `${n} runs > ${max}`, code: 'too_big' }]);
}

function toKey(k: PropertyKey): string | number {
  return typeof k === 'symbol' ? String(k) : k;
}

function nameOf(sweep: string, run: PlannedRun, withSettings: boolean): string {
  // A one-layer (sensitivity) run is named by its layer, not by the 32s of every other layer.
  const layer = /\/layer:(.+)$/.exec(run.series)?.[1];
  const r = run.config.representation;
  const master = run.config.training.master === 'compact' ? ' compact-master' : '';
  const label = run.isBaseline ? 'float32 baseline' : `${layer && r.kind !== 'float32' ? `${r.kind}:${r.bits} ${layer} only` : labelOf(r)} ${run.config.phase}${master}`;
  const settings = withSettings ? run.baselineKey.slice(String(run.seed).length) : '';
  const name = `${sweep}: ${label}${settings} seed ${run.seed}`;
  return name.length <= LIMITS.maxNameLength ? name : name.slice(0, LIMITS.maxNameLength);
}

/** GET /presets: every preset at every budget, as its default request plans it (base config, grid, run count). */
export function listPresetInfo(): PresetInfo[] {
  return PRESETS.flatMap((preset) =>
    (['full', 'small'] as const).map((budget) => {
      const req = PresetSweepRequest.parse({ preset, budget });
      const grid = gridOf(req);
      const paper = paperText(budget);
      return {
        name: preset,
        budget,
        description: preset === 'paper' ? paper.description : SENSITIVITY_DESCRIPTION,
        base: grid.base,
        vary: grid.vary as PresetInfo['vary'],
        ...(grid.entryPhases ? { entryPhases: grid.entryPhases.map((p) => [...p]) } : {}),
        runs: planSweep(req).runs.length,
        epochBudget: preset === 'paper' ? paper.epochBudget : sensitivityEpochs(grid.base),
      };
    }),
  );
}

function sensitivityEpochs(base: ExperimentConfig): string {
  const t = base.training;
  const images = t.trainLimit ? `${t.trainLimit} training images (test on ${t.testLimit ?? 'all'})` : 'the full training set';
  return `${t.epochs} epochs on ${images} per training-phase run (the baseline and the uniform series); the one-layer inference runs quantize their seed's baseline and only evaluate`;
}
