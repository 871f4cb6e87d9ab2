import { ExperimentConfig, LIMITS } from '../schemas/experiment.ts';
import { Representation, labelOf, seriesOf } from '../schemas/representation.ts';
import type { GridSweepRequest, RepresentationPattern, SweepRequest } from '../schemas/sweep.ts';
import type { Grid } from './grid.ts';
import { presetGrid } from './presets.ts';
import { configIdentity } from '../config-identity.ts';

export type { Grid };

/** One run a sweep will queue. Baselines come first, then training-phase runs, then inference-phase runs. */
export interface PlannedRun {
  config: ExperimentConfig;
  seed: number;
  series: string;
  /** The float32 baseline of this seed; the baseline itself is true here. */
  isBaseline: boolean;
}

export interface SweepPlan {
  name: string;
  base: ExperimentConfig;
  runs: PlannedRun[];
  /** seed -> index into runs of that seed's baseline. */
  baselineOf: Map<number, number>;
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
  if ('preset' in req) return presetGrid(req);
  const r = req as GridSweepRequest;
  return { name: r.name, base: r.base, vary: r.vary };
}

/** Every representation a pattern stands for: list-valued fields expand inside the entry, in field order. */
export function expandPattern(pattern: RepresentationPattern): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [key, value] of Object.entries(pattern)) {
    const values = Array.isArray(value) ? value : [value];
    out = out.flatMap((partial) => values.map((v) => ({ ...partial, [key]: v })));
  }
  return out;
}

/** How many representations a pattern stands for, computed without expanding it. */
export function patternSize(pattern: RepresentationPattern): number {
  return Object.values(pattern).reduce<number>((n, v) => n * (Array.isArray(v) ? v.length : 1), 1);
}

/**
 * Expands a sweep into the runs it queues: the product of the expanded representations, phases and seeds, each
 * checked against ExperimentConfig, identical configs once, plus a float32 baseline per seed (same dataset, model
 * and training, training phase) whose priority number is one lower so it runs before the runs compared with it.
 * Throws SweepPlanError listing the invalid combinations, or when the sweep exceeds LIMITS.maxSweepRuns.
 */
export function planSweep(req: SweepRequest, maxRuns: number = LIMITS.maxSweepRuns): SweepPlan {
  const grid = gridOf(req);
  const { base } = grid;
  const patterns = grid.vary.representation ?? [base.representation as RepresentationPattern];
  const phases = grid.vary.phase ?? [base.phase];
  const seeds = grid.vary.seeds ?? [base.training.seed];

  // Refuse an absurd product before expanding it, so a request cannot make the API allocate millions of configs.
  const raw = patterns.reduce((n, p) => n + patternSize(p), 0) * phases.length * seeds.length + seeds.length;
  if (raw > maxRuns * 10) throw tooLarge(raw, maxRuns);

  const issues: PlanIssue[] = [];
  const seen = new Set<string>();
  const runs: PlannedRun[] = [];
  const baselineOf = new Map<number, number>();

  for (const seed of seeds) {
    const config = ExperimentConfig.parse({
      ...base,
      representation: { kind: 'float32' },
      phase: 'training',
      priority: Math.max(1, base.priority - 1),
      training: { ...base.training, seed },
    });
    const key = configIdentity(config);
    if (seen.has(key)) continue;
    seen.add(key);
    baselineOf.set(seed, runs.length);
    runs.push({ config, seed, series: seriesOf(config.representation, 'training'), isBaseline: true });
  }

  const training: PlannedRun[] = [];
  const inference: PlannedRun[] = [];
  patterns.forEach((pattern, entry) => {
    for (const repr of expandPattern(pattern)) {
      const parsedRepr = Representation.safeParse(repr);
      if (!parsedRepr.success) {
        for (const issue of parsedRepr.error.issues.slice(0, 3)) {
          issues.push({ path: ['vary', 'representation', entry, ...issue.path.map(toKey)], message: `${JSON.stringify(repr)}: ${issue.message}`, code: issue.code });
        }
        if (issues.length >= 20) break;
        continue;
      }
      for (const phase of phases) {
        for (const seed of seeds) {
          const parsed = ExperimentConfig.safeParse({ ...base, representation: parsedRepr.data, phase, training: { ...base.training, seed } });
          if (!parsed.success) {
            for (const issue of parsed.error.issues.slice(0, 3)) issues.push({ path: issue.path.map(toKey), message: `${JSON.stringify(repr)} (${phase}, seed ${seed}): ${issue.message}`, code: issue.code });
            continue;
          }
          const key = configIdentity(parsed.data);
          if (seen.has(key)) continue;
          seen.add(key);
          (phase === 'training' ? training : inference).push({ config: parsed.data, seed, series: seriesOf(parsed.data.representation, phase), isBaseline: false });
        }
      }
    }
  });
  if (issues.length > 0) throw new SweepPlanError('invalid', `${issues.length} combination(s) of the sweep are invalid; nothing was queued`, issues.slice(0, 20));

  runs.push(...training, ...inference);
  if (runs.length > maxRuns) throw tooLarge(runs.length, maxRuns);
  for (const run of runs) run.config.name = nameOf(grid.name, run);
  return { name: grid.name, base, runs, baselineOf };
}

function tooLarge(n: number, max: number): SweepPlanError {
  return new SweepPlanError('too-large', `the sweep expands to ${n} runs; at most ${max} are allowed`, [{ path: ['vary'], message: `${n} runs > ${max}`, code: 'too_big' }]);
}

function toKey(k: PropertyKey): string | number {
  return typeof k === 'symbol' ? String(k) : k;
}

function nameOf(sweep: string, run: PlannedRun): string {
  const label = run.isBaseline ? 'float32 baseline' : `${labelOf(run.config.representation)} ${run.config.phase}`;
  const name = `${sweep}: ${label} seed ${run.seed}`;
  return name.length <= LIMITS.maxNameLength ? name : name.slice(0, LIMITS.maxNameLength);
}
