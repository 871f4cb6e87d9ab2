import { bitsOf } from '../schemas/representation.ts';
import type { RunDocument, RunStatus } from '../schemas/run.ts';
import { RUN_STATUSES } from '../schemas/run.ts';
import type { SeedResult, Stat, SweepStatus, SweepSummaryRow } from '../schemas/sweep.ts';
import { decodeBitset, discordant, mcnemarExact, meanInterval95, wilson95 } from './stats.ts';

/**
 * Fills `metrics.relativeAccuracy` of a run whose baseline has completed: its test accuracy / the baseline's.
 * Done when a run is read, so the order in which a sweep's runs finish does not matter. A sweep's baseline (a
 * float32 training-phase run of a sweep, with no baseline of its own) is its own 100% line.
 */
export function withRelativeAccuracy(run: RunDocument, baseline: Pick<RunDocument, 'status' | 'metrics'> | null | undefined): RunDocument {
  const acc = run.metrics?.testAccuracy;
  if (run.status !== 'completed' || typeof acc !== 'number') return run;
  if (!run.baselineId) {
    if (run.sweepId && run.config.representation.kind === 'float32' && run.config.phase === 'training') return { ...run, metrics: { ...run.metrics, relativeAccuracy: 1 } };
    return run;
  }
  const base = baseline?.status === 'completed' ? baseline.metrics?.testAccuracy : null;
  if (typeof base !== 'number' || base <= 0) return run;
  return { ...run, metrics: { ...run.metrics, relativeAccuracy: acc / base } };
}

export function countByStatus(runs: readonly Pick<RunDocument, 'status'>[]): Record<RunStatus, number> {
  const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
  for (const r of runs) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

/**
 * queued while no run has started; running while any run is not final; then completed when every run completed (or
 * was stopped early by the sweep's stopping rule, an ordinary outcome of a search), cancelled when any was
 * cancelled, failed otherwise.
 */
export function sweepStatus(counts: Record<RunStatus, number>): SweepStatus {
  const total = RUN_STATUSES.reduce((n, s) => n + counts[s], 0);
  if (total === 0 || counts.queued === total) return 'queued';
  if (counts.queued + counts.running > 0) return 'running';
  if (counts.completed + counts.stopped === total) return 'completed';
  return counts.cancelled > 0 ? 'cancelled' : 'failed';
}

function interval(i: [number, number] | null): { low: number; high: number } | null {
  return i ? { low: i[0], high: i[1] } : null;
}

function stat(values: number[]): Stat {
  if (values.length === 0) return { mean: null, min: null, max: null, ci95: null };
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values), ci95: interval(meanInterval95(values)) };
}

/** A run's own figures: binomial interval, and McNemar against its baseline when both stored their bitsets. */
function seedResult(run: RunDocument, byId: ReadonlyMap<string, RunDocument>): SeedResult {
  const acc = run.metrics.testAccuracy!;
  const test = run.dataset?.test ?? null;
  const base = run.baselineId ? byId.get(run.baselineId) : undefined;
  let mcnemar: SeedResult['mcnemar'] = null;
  if (run.metrics.correct && base?.status === 'completed' && base.metrics.correct) {
    const a = decodeBitset(run.metrics.correct);
    const b = decodeBitset(base.metrics.correct);
    if (a.length === b.length) {
      const d = discordant(a, b);
      mcnemar = { ...d, p: mcnemarExact(d.b, d.c) };
    }
  }
  return {
    runId: run.id,
    seed: run.config.training.seed,
    testAccuracy: acc,
    test,
    binomial95: test ? interval(wilson95(Math.round(acc * test), test)) : null,
    relativeAccuracy: run.metrics.relativeAccuracy ?? null,
    mcnemar,
  };
}

function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/** One row per (series, bits), aggregated over seeds from completed runs; sorted by series then bits. */
export function summarize(runs: readonly RunDocument[]): SweepSummaryRow[] {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const groups = new Map<string, RunDocument[]>();
  for (const run of runs) {
    const key = `${run.series}\u0000${bitsOf(run.config.representation)}`;
    const g = groups.get(key);
    if (g) g.push(run);
    else groups.set(key, [run]);
  }
  const rows: SweepSummaryRow[] = [];
  for (const [key, group] of groups) {
    const [series, bits] = key.split('\u0000');
    const done = group.filter((r) => r.status === 'completed' && typeof r.metrics.testAccuracy === 'number');
    const num = (f: (r: RunDocument) => number | null | undefined) => done.map(f).filter((v): v is number => typeof v === 'number');
    rows.push({
      series,
      bits: Number(bits),
      n: done.length,
      runs: group.length,
      testAccuracy: stat(num((r) => r.metrics.testAccuracy)),
      relativeAccuracy: stat(num((r) => r.metrics.relativeAccuracy)),
      compactBytes: mean(num((r) => r.metrics.weightBytes?.compact ?? r.artifact?.bytes)),
      compressionRatio: mean(num((r) => r.metrics.compressionRatio)),
      trainingStateBytes: mean(num((r) => r.metrics.trainingStateBytes?.compact)),
      energyPj: mean(num((r) => r.metrics.energy?.totalPj)),
      seeds: done.map((r) => seedResult(r, byId)).sort((a, b) => a.seed - b.seed),
    });
  }
  return rows.sort((a, b) => (a.series === b.series ? a.bits - b.bits : a.series < b.series ? -1 : 1));
}
