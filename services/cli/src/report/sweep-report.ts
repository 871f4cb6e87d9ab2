import { basename } from 'node:path';
import type { RunDocument } from '@quantlab/shared';
import { keptLevel, narrowestKeeping, narrowestPassing } from '@quantlab/shared/sweeps/kept';
import { learnedVsRefitSection, mixedPrecisionSection } from './mixed-precision.ts';
import { lineChartSvg } from './svg-chart.ts';
import { kib, masterComparison, microjoules, type CostAxis } from './master-report.ts';

/** Mean, min and max over seeds (and the mean's 95% t-interval from two seeds on); null while no run has completed. */
interface Stat {
  mean: number | null;
  min: number | null;
  max: number | null;
  ci95?: { low: number; high: number } | null;
}
/** One run of a row (GET /sweeps/:id's summary[].seeds). */
interface SeedResult {
  runId: string;
  seed: number;
  testAccuracy: number;
  test: number | null;
  binomial95: { low: number; high: number } | null;
  relativeAccuracy: number | null;
  mcnemar: { b: number; c: number; p: number } | null;
}
/** The parts of GET /sweeps/:id a report reads. */
export interface SweepForReport {
  id: string;
  name: string;
  status: string;
  runs: RunDocument[];
  summary: {
    series: string;
    bits: number;
    n: number;
    testAccuracy: Stat;
    relativeAccuracy: Stat | null;
    compactBytes: number | null;
    compressionRatio: number | null;
    trainingStateBytes?: number | null;
    energyPj?: number | null;
    seeds?: SeedResult[];
  }[];
}

export interface Targets {
  /** series prefix (kind) and phase, bits, minimum relative accuracy (fraction). */
  kind: 'fixed' | 'dictionary';
  phase: 'training' | 'inference';
  bits: number;
  atLeast: number;
}
export const PAPER_TARGETS: Targets[] = [
  { kind: 'fixed', phase: 'training', bits: 8, atLeast: 0.99 },
  { kind: 'dictionary', phase: 'training', bits: 8, atLeast: 0.99 },
  { kind: 'dictionary', phase: 'training', bits: 4, atLeast: 0.97 },
];

const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(digits)}%`);
const spread = (s: Stat | null, digits = 1) => (s && s.mean !== null ? `${pct(s.mean, digits)} [${pct(s.min, digits)}, ${pct(s.max, digits)}]` : '–');
/** mean [95% t-interval] from two seeds on; the mean alone (and "one seed") otherwise. */
const interval = (s: Stat | null, digits = 1) =>
  s && s.mean !== null ? (s.ci95 ? `${pct(s.mean, digits)} [${pct(s.ci95.low, digits)}, ${pct(s.ci95.high, digits)}]` : `${pct(s.mean, digits)} (one seed)`) : '–';
const pValue = (p: number) => (p < 0.001 ? '< 0.001' : p.toFixed(3));


/** Rows of one series that are not the float32 baseline, by bits (per-layer width series have their own sections). */
function seriesRows(sweep: SweepForReport) {
  const bySeries = new Map<string, SweepForReport['summary']>();
  for (const row of sweep.summary) {
    if (row.series.startsWith('float32/') || /\/(layer|bits):/.test(row.series)) continue;
    bySeries.set(row.series, [...(bySeries.get(row.series) ?? []), row].sort((a, b) => a.bits - b.bits));
  }
  return bySeries;
}

/**
 * The smallest bit width from which on every measured width keeps at least `threshold` relative accuracy, judged on
 * the lower end of the 95% interval over seeds (the mean when a row has one seed).
 */
export function smallestBitsKeeping(rows: SweepForReport['summary'], threshold: number): number | null {
  return narrowestKeeping(levelsOf(rows), threshold);
}

const levelsOf = (rows: SweepForReport['summary']) => rows.map((r) => ({ width: r.bits, level: keptLevel(r.relativeAccuracy) }));

export function relativeAccuracyChart(sweep: SweepForReport): string {
  // Inference-phase lines are dashed, as in the dashboard.
  const series = [...seriesRows(sweep)].map(([name, rows]) => ({
    name,
    dashed: name.endsWith('/inference'),
    points: rows
      .filter((r) => r.relativeAccuracy?.mean != null)
      // Error bars: the 95% interval over seeds where there is one, else the range.
      .map((r) => {
        const a = r.relativeAccuracy!;
        const [lo, hi] = a.ci95 ? [a.ci95.low, a.ci95.high] : [a.min ?? a.mean!, a.max ?? a.mean!];
        return { x: r.bits, y: 100 * a.mean!, min: 100 * lo, max: 100 * hi };
      }),
  }));
  const bits = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const lowest = Math.min(100, ...series.flatMap((s) => s.points.map((p) => p.min ?? p.y)));
  return lineChartSvg({
    title: `${sweep.name}: relative accuracy against bits`,
    xLabel: 'total bits per weight',
    yLabel: 'relative accuracy (% of float32)',
    series,
    reference: { y: 100, label: 'float32 baseline (100%)' },
    xTicks: bits,
    yRange: [Math.max(0, Math.floor(lowest / 10) * 10), 105],
  });
}

function describeSetting(sweep: SweepForReport): string[] {
  const base = sweep.runs.find((r) => r.config.representation.kind === 'float32') ?? sweep.runs[0];
  if (!base) return ['The sweep has no runs.'];
  const t = base.config.training;
  const seeds = [...new Set(sweep.runs.map((r) => r.config.training.seed))].sort((a, b) => a - b);
  const backends = [...new Set(sweep.runs.map((r) => r.metrics.backend).filter(Boolean))];
  const hosts = [...new Set(sweep.runs.map((r) => r.provenance?.host).filter(Boolean))];
  const starts = sweep.runs.map((r) => Date.parse(r.startedAt ?? r.createdAt)).filter(Number.isFinite);
  const ends = sweep.runs.map((r) => Date.parse(r.finishedAt ?? '')).filter(Number.isFinite);
  const wallMin = starts.length && ends.length ? (Math.max(...ends) - Math.min(...starts)) / 60_000 : null;
  const d = base.dataset;
  return [
    `- Sweep \`${sweep.id}\` (${sweep.status}), ${sweep.runs.length} runs.`,
    `- Dataset: ${base.config.dataset}${d ? ` — ${d.train} training and ${d.test} test images, ${d.split}` : ''}.`,
    `- Model: ${base.config.model}. Training: ${t.epochs} epochs, batch ${t.batchSize}, SGD momentum ${t.momentum}, weight decay ${t.weightDecay}, learning rate ${t.learningRate} (${t.schedule}), augmentation ${t.augment ? 'on' : 'off'}${t.trainLimit ? `, train limit ${t.trainLimit}` : ''}${t.testLimit ? `, test limit ${t.testLimit}` : ''}.`,
    `- Seeds: ${seeds.join(', ')}. Backend: ${backends.join(', ') || 'unknown'}${hosts.length ? `; workers on ${hosts.join(', ')}` : ''}.`,
    `- Wall time from the first run's start to the last run's end: ${wallMin === null ? 'unknown' : `${wallMin.toFixed(1)} minutes`}.`,
  ];
}

/** The cost figures' file names beside the relative-accuracy figure's (report.svg -> report-bytes.svg, ...). */
export function costSvgPaths(svgPath: string): Record<CostAxis, string> {
  const base = svgPath.replace(/\.svg$/, '');
  return { compactBytes: `${base}-bytes.svg`, trainingStateBytes: `${base}-training-bytes.svg`, energyPj: `${base}-energy.svg` };
}

export function sweepReportMarkdown(sweep: SweepForReport, opts: { svgPath: string; notes?: string }): string {
  const rows = seriesRows(sweep);
  const baseline = sweep.summary.find((r) => r.series.startsWith('float32/'));
  const out: string[] = [`# Bit-width study: ${sweep.name}`, '', ...describeSetting(sweep), ''];
  if (baseline) out.push(`Float32 baseline test accuracy: ${spread(baseline.testAccuracy, 2)} (mean [min, max] over ${baseline.n} seed${baseline.n === 1 ? '' : 's'}).`, '');
  if (opts.notes) out.push(opts.notes.trim(), '');
  out.push('## Relative accuracy against bits', '', `![relative accuracy against bits](${basename(opts.svgPath)})`, '');
  const costs = costSvgPaths(opts.svgPath);
  out.push(
    '## Accuracy against bytes, training-state bytes and energy',
    '',
    `![test accuracy against the packed model size](${basename(costs.compactBytes)})`,
    '',
    `![test accuracy against training-state bytes](${basename(costs.trainingStateBytes)})`,
    '',
    `![test accuracy against energy per inference image](${basename(costs.energyPj)})`,
    '',
  );
  out.push(...masterComparison(sweep.summary));

  out.push('## Fewest bits that keep the accuracy', '', '| series | ≥ 99% from | ≥ 98% from |', '|---|---:|---:|');
  for (const [name, r] of rows) {
    const at = (level: number) => {
      const from = smallestBitsKeeping(r, level);
      const alone = narrowestPassing(levelsOf(r), level);
      const text = from === null ? 'not reached at the widths measured' : `${from} bits`;
      // A narrower width that keeps the level on its own while a wider one misses: shown, not counted.
      return alone !== null && (from === null || alone < from) ? `${text} (${alone} bits on its own; a wider width misses)` : text;
    };
    out.push(`| \`${name}\` | ${at(0.99)} | ${at(0.98)} |`);
  }
  out.push(
    '',
    'A width counts when it and every larger width measured keep the level, judged on the lower end of the 95% t-interval over seeds (the mean where a point has one seed). A width that keeps it on its own while a wider one misses is named in brackets: the allocator (`quantlab allocate`) judges a width on its own like that.',
    '',
  );

  // Only the targets this sweep measured: a target at a width or phase it did not run says nothing.
  const targets: string[] = [];
  for (const t of PAPER_TARGETS) {
    const candidates = [...rows].filter(([name]) => name.startsWith(`${t.kind}/`) && name.endsWith(`/${t.phase}`));
    const hits = candidates.map(([name, r]) => ({ name, row: r.find((x) => x.bits === t.bits) })).filter((c) => c.row && keptLevel(c.row.relativeAccuracy) !== null);
    if (hits.length === 0) continue;
    const best = hits.reduce((a, b) => (keptLevel(b.row!.relativeAccuracy)! > keptLevel(a.row!.relativeAccuracy)! ? b : a));
    const level = keptLevel(best.row!.relativeAccuracy)!;
    const judged = best.row!.relativeAccuracy!.ci95 ? 'lower end of the 95% interval' : 'one seed';
    const verdict = level >= t.atLeast ? 'met' : `missed by ${(100 * (t.atLeast - level)).toFixed(1)} points`;
    targets.push(`- ${t.kind} at ${t.bits} bits (${t.phase} phase) ≥ ${pct(t.atLeast, 0)}: ${interval(best.row!.relativeAccuracy, 2)} with \`${best.name}\` (${judged} ${pct(level, 2)}) — ${verdict}.`);
  }
  if (targets.length) out.push('## Targets', '', ...targets, '');
  out.push(...learnedVsRefitSection(sweep), ...mixedPrecisionSection(sweep));

  out.push(
    '## All results',
    '',
    '| series | bits | n | test accuracy | relative accuracy [95% CI] | range over seeds | compact bytes | compression | training state | energy per image |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  const ordered = [...sweep.summary].sort((a, b) => a.series.localeCompare(b.series) || a.bits - b.bits);
  for (const r of ordered) {
    out.push(
      `| \`${r.series}\` | ${r.bits} | ${r.n} | ${interval(r.testAccuracy, 2)} | ${interval(r.relativeAccuracy)} | ${spread(r.relativeAccuracy)} | ${r.compactBytes === null ? '–' : Math.round(r.compactBytes)} | ${r.compressionRatio ? `${r.compressionRatio.toFixed(2)}×` : '–'} | ${kib(r.trainingStateBytes)} | ${microjoules(r.energyPj)} |`,
    );
  }
  out.push(
    '',
    "Relative accuracy = a run's test accuracy / the float32 baseline's of the same seed; mean [95% t-interval of the mean over seeds], and mean [min, max]. Training state: weights plus optimizer state held while training; energy: estimated per inference image at 45 nm (docs/ENERGY.md).",
    '',
  );

  const perRun = ordered.flatMap((r) => (r.seeds ?? []).map((s) => ({ r, s })));
  if (perRun.length) {
    out.push(
      '## Each run against its baseline',
      '',
      '| series | bits | seed | test accuracy [binomial 95%] | relative | only this run right | only the baseline right | McNemar p |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const { r, s } of perRun) {
      const bin = s.binomial95 ? ` [${pct(s.binomial95.low, 2)}, ${pct(s.binomial95.high, 2)}]` : '';
      const m = s.mcnemar;
      out.push(`| \`${r.series}\` | ${r.bits} | ${s.seed} | ${pct(s.testAccuracy, 2)}${bin} | ${pct(s.relativeAccuracy, 1)} | ${m ? m.b : '–'} | ${m ? m.c : '–'} | ${m ? pValue(m.p) : '–'} |`);
    }
    out.push(
      '',
      "Binomial: the Wilson 95% interval of one run's accuracy over its test images. McNemar: the exact two-sided test on the test images exactly one of the run and its seed's float32 baseline classifies correctly (p < 0.05: the two differ on these images).",
      '',
    );
  }
  out.push(...stoppedSection(sweep));
  return out.join('\n');
}

/** Runs the sweep's stopping rule ended: listed with their reason, and left out of every row above. */
function stoppedSection(sweep: SweepForReport): string[] {
  const stopped = sweep.runs.filter((r) => r.status === 'stopped');
  if (stopped.length === 0) return [];
  const out = ['## Stopped early', '', `${stopped.length} run(s) were stopped by the sweep's stopping rule; they are not in the rows above (nor in "fewest bits").`, ''];
  out.push('| run | bits | epochs trained | last test accuracy | reason |', '|---|---:|---:|---:|---|');
  for (const r of stopped) {
    const last = r.epochs[r.epochs.length - 1];
    const bits = r.config.representation.kind === 'float32' ? 32 : r.config.representation.bits;
    out.push(`| \`${r.name}\` | ${bits} | ${r.epochs.length} of ${r.config.training.epochs} | ${pct(last?.testAccuracy, 2)} | ${r.stopped?.reason ?? '–'} |`);
  }
  out.push('');
  return out;
}
