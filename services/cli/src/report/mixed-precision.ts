/**
 * The report's sections for issue 20: learned (gradient-trained) against refit dictionaries per width, and a
 * sensitivity sweep's per-layer sensitivity with its mixed-precision allocations against the best uniform width.
 * Kept free of zod (the CLI bundle): shared's stats and model-layer modules import nothing heavy.
 */
import { MODEL_LAYERS } from '@quantlab/shared/schemas/model-layers';
import { keptLevel, narrowestPassing } from '@quantlab/shared/sweeps/kept';
import { meanInterval95 } from '@quantlab/shared/sweeps/stats';

/** What these sections read of a sweep (a structural part of sweep-report.ts's SweepForReport). */
interface Stat {
  mean: number | null;
  min: number | null;
  max: number | null;
  ci95?: { low: number; high: number } | null;
}
interface Row {
  series: string;
  bits: number;
  n: number;
  relativeAccuracy: Stat | null;
  compactBytes: number | null;
  seeds?: { seed: number; relativeAccuracy: number | null }[];
}
interface SweepForReport {
  runs: { series: string; name: string; config: { model: string } }[];
  summary: Row[];
}

const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(digits)}%`);
const interval = (s: Row['relativeAccuracy'], digits = 1) =>
  s && s.mean !== null ? (s.ci95 ? `${pct(s.mean, digits)} [${pct(s.ci95.low, digits)}, ${pct(s.ci95.high, digits)}]` : `${pct(s.mean, digits)} (one seed)`) : '–';
const judged = (row: Row): number | null => keptLevel(row.relativeAccuracy);

/** Learned dictionary series (`…/<refitEvery>:gradient/<phase>`) next to the refit series they differ from. */
export function learnedVsRefitSection(sweep: SweepForReport): string[] {
  const rows = sweep.summary;
  const learned = [...new Set(rows.map((r) => r.series).filter((s) => /\/(epoch|never):gradient\//.test(s)))].sort();
  if (learned.length === 0) return [];
  const out = [
    '## Learned against refit dictionaries',
    '',
    '| learned series | refit series | bits | refit | learned | learned − refit, paired by seed [95% CI] |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const series of learned) {
    // A dictionary trained between epoch refits is compared with the one refit every epoch; one fitted once and then
    // only trained ("never") with it too: refit every epoch is the default it replaces.
    const refit = series.replace(/\/(epoch|never):gradient\//, '/epoch/');
    for (const row of rows.filter((r) => r.series === series).sort((a, b) => a.bits - b.bits)) {
      const other = rows.find((r) => r.series === refit && r.bits === row.bits);
      const refitBySeed = new Map((other?.seeds ?? []).map((s) => [s.seed, s.relativeAccuracy]));
      const diffs = (row.seeds ?? []).flatMap((s) => {
        const r = refitBySeed.get(s.seed);
        return typeof r === 'number' && typeof s.relativeAccuracy === 'number' ? [s.relativeAccuracy - r] : [];
      });
      const meanDiff = diffs.length ? diffs.reduce((a, b) => a + b, 0) / diffs.length : null;
      const ci = meanInterval95(diffs);
      const points = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)}`;
      const diff = meanDiff === null ? '–' : `${points(meanDiff)} points${ci ? ` [${points(ci[0])}, ${points(ci[1])}]` : ' (one seed)'}`;
      out.push(`| \`${series}\` | \`${refit}\` | ${row.bits} | ${interval(other?.relativeAccuracy ?? null)} | ${interval(row.relativeAccuracy)} | ${diff} |`);
    }
  }
  out.push(
    '',
    'Relative accuracy (of the seed’s float32 baseline), mean [95% t-interval over seeds]. The difference pairs the two runs of each seed; an interval that contains 0 does not separate them.',
    '',
  );
  return out;
}

const LAYER = /^(.*)\/(training|inference)\/layer:(.+)$/;
const MIXED = /^(.*)\/training\/bits:([\d.]+)$/;

/** A sensitivity sweep: each layer alone at each width, then each allocation against the best uniform width. */
export function mixedPrecisionSection(sweep: SweepForReport): string[] {
  const rows = sweep.summary;
  const cells = rows.flatMap((r) => {
    const m = LAYER.exec(r.series);
    return m ? [{ family: m[1], phase: m[2], layer: m[3], row: r }] : [];
  });
  if (cells.length === 0) return [];
  const model = sweep.runs.find((r) => LAYER.test(r.series))?.config.model;
  const layers = (model && MODEL_LAYERS[model as keyof typeof MODEL_LAYERS]) || [...new Set(cells.map((c) => c.layer))];
  const out: string[] = ['## Per-layer sensitivity', ''];
  for (const family of [...new Set(cells.map((c) => c.family))]) {
    for (const phase of ['inference', 'training']) {
      const mine = cells.filter((c) => c.family === family && c.phase === phase);
      if (mine.length === 0) continue;
      const widths = [...new Set(mine.map((c) => c.row.bits))].sort((a, b) => a - b);
      out.push(
        `\`${family}\`, ${phase} phase: relative accuracy with only this layer quantized (the others float32), mean [95% CI] over seeds.`,
        '',
        `| layer | ${widths.map((w) => `${w} bits`).join(' | ')} |`,
        `|---|${widths.map(() => '---:').join('|')}|`,
      );
      for (const layer of layers) {
        const byWidth = widths.map((w) => interval(mine.find((c) => c.layer === layer && c.row.bits === w)?.row.relativeAccuracy ?? null));
        out.push(`| ${layer} | ${byWidth.join(' | ')} |`);
      }
      out.push('');
    }
  }

  const mixed = rows.flatMap((r) => {
    const m = MIXED.exec(r.series);
    return m ? [{ family: m[1], widths: m[2].split('.').map(Number), row: r }] : [];
  });
  if (mixed.length === 0) {
    out.push(
      'No mixed-precision allocation in this sweep: `quantlab allocate SWEEP --target 0.99` chooses the widths and queues them. An allocation answered by a uniform width queues no new runs: its runs are the training-phase uniform series of that width, above.',
      '',
    );
    return out;
  }
  out.push(
    '## Mixed precision against the best uniform width',
    '',
    '| allocation | bits per layer | weight bytes | relative accuracy [95% CI] | best uniform width for the target | its bytes | its relative accuracy | bytes saved |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const m of mixed) {
    const run = sweep.runs.find((r) => r.series === m.row.series);
    const target = Number(/allocated for ([\d.]+)/.exec(run?.name ?? '')?.[1] ?? NaN);
    // The target the allocation was made for (in its runs' names); otherwise the level the allocation itself kept.
    const level = Number.isFinite(target) ? target : judged(m.row);
    // The allocator's own rule for the best uniform width (sweeps/kept.ts).
    const uniformRows = rows.filter((r) => r.series === `${m.family}/training`);
    const width = level === null ? null : narrowestPassing(uniformRows.map((r) => ({ width: r.bits, level: judged(r) })), level);
    const uniform = uniformRows.find((r) => r.bits === width);
    const perLayer = m.widths.map((w, i) => `${layers[i] ?? i}=${w === 32 ? 'float32' : w}`).join(' ');
    const saved = uniform?.compactBytes && m.row.compactBytes ? `${(100 * (1 - m.row.compactBytes / uniform.compactBytes)).toFixed(1)}%` : '–';
    out.push(
      `| \`${m.row.series}\`${Number.isFinite(target) ? ` (target ${target})` : ''} | ${perLayer} | ${m.row.compactBytes === null ? '–' : Math.round(m.row.compactBytes)} | ${interval(m.row.relativeAccuracy)} | ${uniform ? `${uniform.bits} bits` : 'none at the widths measured'} | ${uniform?.compactBytes == null ? '–' : Math.round(uniform.compactBytes)} | ${uniform ? interval(uniform.relativeAccuracy) : '–'} | ${saved} |`,
    );
  }
  out.push(
    '',
    'Weight bytes: the mean artifact size of the runs (codes, scales, dictionaries, float32 biases). The best uniform width is the narrowest width at which every layer together (training phase, same representation) keeps the target on the lower end of its 95% interval over seeds, judged on that width alone as the allocator judges it ("fewest bits" above asks more: every wider width too).',
    '',
  );
  return out;
}
