import { bitsOf } from '../schemas/representation.ts';
import type { RunDocument, RunStatus } from '../schemas/run.ts';
import { RUN_STATUSES } from '../schemas/run.ts';
import type { Stat, SweepStatus, SweepSummaryRow } from '../schemas/sweep.ts';

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

function stat(values: number[]): Stat {
  if (values.length === 0) return { mean: null, min: null, max: null };
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values) };
}

function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/** One row per (series, bits), aggregated over seeds from completed runs; sorted by series then bits. */
export function summarize(runs: readonly RunDocument[]): SweepSummaryRow[] {
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
    });
  }
  return rows.sort((a, b) => (a.series === b.series ? a.bits - b.bits : a.series < b.series ? -1 : 1));
}
