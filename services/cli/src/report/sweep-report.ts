import { basename } from 'node:path';
import type { RunDocument } from '@quantlab/shared';
import { lineChartSvg } from './svg-chart.ts';

/** Mean, min and max over seeds; null while no run of the row has completed. */
interface Stat {
  mean: number | null;
  min: number | null;
  max: number | null;
}
/** The parts of GET /sweeps/:id a report reads. */
export interface SweepForReport {
  id: string;
  name: string;
  status: string;
  runs: RunDocument[];
  summary: { series: string; bits: number; n: number; testAccuracy: Stat; relativeAccuracy: Stat | null; compactBytes: number | null; compressionRatio: number | null }[];
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

/** Rows of one series that are not the float32 baseline, by bits. */
function seriesRows(sweep: SweepForReport) {
  const bySeries = new Map<string, SweepForReport['summary']>();
  for (const row of sweep.summary) {
    if (row.series.startsWith('float32/')) continue;
    bySeries.set(row.series, [...(bySeries.get(row.series) ?? []), row].sort((a, b) => a.bits - b.bits));
  }
  return bySeries;
}

/** The smallest bit width from which on every measured width keeps at least `threshold` mean relative accuracy. */
export function smallestBitsKeeping(rows: SweepForReport['summary'], threshold: number): number | null {
  let best: number | null = null;
  for (const row of [...rows].sort((a, b) => b.bits - a.bits)) {
    if ((row.relativeAccuracy?.mean ?? -1) >= threshold) best = row.bits;
    else break;
  }
  return best;
}

export function relativeAccuracyChart(sweep: SweepForReport): string {
  // Inference-phase lines are dashed, as in the dashboard.
  const series = [...seriesRows(sweep)].map(([name, rows]) => ({
    name,
    dashed: name.endsWith('/inference'),
    points: rows
      .filter((r) => r.relativeAccuracy?.mean != null)
      .map((r) => ({ x: r.bits, y: 100 * r.relativeAccuracy!.mean!, min: 100 * (r.relativeAccuracy!.min ?? r.relativeAccuracy!.mean!), max: 100 * (r.relativeAccuracy!.max ?? r.relativeAccuracy!.mean!) })),
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

export function sweepReportMarkdown(sweep: SweepForReport, opts: { svgPath: string; notes?: string }): string {
  const rows = seriesRows(sweep);
  const baseline = sweep.summary.find((r) => r.series.startsWith('float32/'));
  const out: string[] = [`# Bit-width study: ${sweep.name}`, '', ...describeSetting(sweep), ''];
  if (baseline) out.push(`Float32 baseline test accuracy: ${spread(baseline.testAccuracy, 2)} (mean [min, max] over ${baseline.n} seed${baseline.n === 1 ? '' : 's'}).`, '');
  if (opts.notes) out.push(opts.notes.trim(), '');
  out.push('## Relative accuracy against bits', '', `![relative accuracy against bits](${basename(opts.svgPath)})`, '');

  out.push('## Fewest bits that keep the accuracy', '', '| series | ≥ 99% from | ≥ 98% from |', '|---|---:|---:|');
  for (const [name, r] of rows) {
    const b99 = smallestBitsKeeping(r, 0.99);
    const b98 = smallestBitsKeeping(r, 0.98);
    out.push(`| \`${name}\` | ${b99 === null ? 'not reached' : `${b99} bits`} | ${b98 === null ? 'not reached' : `${b98} bits`} |`);
  }
  out.push('', 'A width counts when it and every larger width measured keep the mean relative accuracy.', '');

  out.push('## Targets', '');
  for (const t of PAPER_TARGETS) {
    const candidates = [...rows].filter(([name]) => name.startsWith(`${t.kind}/`) && name.endsWith(`/${t.phase}`));
    const hits = candidates.map(([name, r]) => ({ name, row: r.find((x) => x.bits === t.bits) })).filter((c) => c.row?.relativeAccuracy?.mean != null);
    if (hits.length === 0) {
      out.push(`- ${t.kind} at ${t.bits} bits (${t.phase} phase) ≥ ${pct(t.atLeast, 0)}: not measured in this sweep.`);
      continue;
    }
    const best = hits.reduce((a, b) => (b.row!.relativeAccuracy!.mean! > a.row!.relativeAccuracy!.mean! ? b : a));
    const got = best.row!.relativeAccuracy!.mean!;
    const verdict = got >= t.atLeast ? 'met' : `missed by ${(100 * (t.atLeast - got)).toFixed(1)} points`;
    out.push(`- ${t.kind} at ${t.bits} bits (${t.phase} phase) ≥ ${pct(t.atLeast, 0)}: ${pct(got, 2)} with \`${best.name}\` — ${verdict}.`);
  }
  out.push('');

  out.push('## All results', '', '| series | bits | n | test accuracy | relative accuracy | compact bytes | compression |', '|---|---:|---:|---:|---:|---:|---:|');
  const ordered = [...sweep.summary].sort((a, b) => a.series.localeCompare(b.series) || a.bits - b.bits);
  for (const r of ordered) {
    out.push(`| \`${r.series}\` | ${r.bits} | ${r.n} | ${spread(r.testAccuracy, 2)} | ${spread(r.relativeAccuracy)} | ${r.compactBytes ?? '–'} | ${r.compressionRatio ? `${r.compressionRatio.toFixed(2)}×` : '–'} |`);
  }
  out.push('', 'Relative accuracy = a run\'s test accuracy / the float32 baseline\'s of the same seed; mean [min, max] over seeds.', '');
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
