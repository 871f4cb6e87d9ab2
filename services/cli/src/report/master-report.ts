/**
 * The report's cost side (issue 18): accuracy against the packed model's bytes, against the bytes training held
 * (trainingStateBytes) and against the estimated energy of one inference image; and, for every representation
 * trained both ways, the float32 master against compact weights only, bit width by bit width.
 */
import { seriesParts } from '@quantlab/shared/schemas/label';
import { lineChartSvg } from './svg-chart.ts';

interface Stat {
  mean: number | null;
  min: number | null;
  max: number | null;
  ci95?: { low: number; high: number } | null;
}
/** The summary row fields this file reads (GET /sweeps/:id's summary). */
export interface CostRow {
  series: string;
  bits: number;
  n: number;
  testAccuracy: Stat;
  compactBytes: number | null;
  trainingStateBytes?: number | null;
  energyPj?: number | null;
}

export type CostAxis = 'compactBytes' | 'trainingStateBytes' | 'energyPj';

const AXES: Record<CostAxis, { title: string; xLabel: string; format: (v: number) => string }> = {
  compactBytes: { title: 'test accuracy against the packed model size', xLabel: 'packed model (bytes, log scale)', format: (v) => bytes(v) },
  trainingStateBytes: {
    title: 'test accuracy against training-state bytes',
    xLabel: 'weights + optimizer state held while training (bytes, log scale)',
    format: (v) => bytes(v),
  },
  energyPj: { title: 'test accuracy against energy per inference image', xLabel: 'estimated energy per image (µJ, 45 nm, log scale)', format: (v) => `${trim(v / 1e6)}` },
};

const trim = (x: number) => String(Number(x.toPrecision(3)));
function bytes(n: number): string {
  if (n < 1024) return `${trim(n)} B`;
  if (n < 1024 * 1024) return `${trim(n / 1024)} KiB`;
  return `${trim(n / 1024 / 1024)} MiB`;
}
const pct = (x: number | null | undefined, digits = 2) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(digits)}%`);
const interval = (s: Stat | undefined) =>
  s && s.mean !== null ? (s.ci95 ? `${pct(s.mean)} [${pct(s.ci95.low)}, ${pct(s.ci95.high)}]` : `${pct(s.mean)} (one seed)`) : '–';
export const microjoules = (pj: number | null | undefined) => (pj === null || pj === undefined ? '–' : `${(pj / 1e6).toFixed(2)} µJ`);
export const kib = (b: number | null | undefined) => (b === null || b === undefined ? '–' : bytes(b));

/** Test accuracy (%) against one cost, a line per series (its bit widths as points), the float32 baseline a point. */
export function costChart(sweepName: string, rows: readonly CostRow[], axis: CostAxis): string {
  const a = AXES[axis];
  const bySeries = new Map<string, CostRow[]>();
  for (const r of rows) if (typeof r[axis] === 'number' && r.testAccuracy.mean !== null) bySeries.set(r.series, [...(bySeries.get(r.series) ?? []), r]);
  const series = [...bySeries].map(([name, rs]) => {
    const { phase, master } = seriesParts(name);
    return {
      name,
      // Inference phase dashed, as in the relative-accuracy figure; a compact master shows in its name.
      dashed: phase === 'inference' && master === 'float32',
      points: rs.map((r) => {
        const t = r.testAccuracy;
        const [lo, hi] = t.ci95 ? [t.ci95.low, t.ci95.high] : [t.min ?? t.mean!, t.max ?? t.mean!];
        return { x: r[axis] as number, y: 100 * t.mean!, min: 100 * lo, max: 100 * hi };
      }),
    };
  });
  const ys = series.flatMap((s) => s.points.map((p) => p.min));
  return lineChartSvg({
    title: `${sweepName}: ${a.title}`,
    xLabel: a.xLabel,
    yLabel: 'test accuracy (%)',
    series,
    xLog: true,
    xFormat: a.format,
    yRange: [Math.max(0, Math.floor(Math.min(100, ...ys) / 10) * 10), 100],
  });
}

/**
 * Per representation trained with both masters: each bit width's accuracy (mean [95% t-interval over seeds]) with a
 * float32 master and with compact weights only, the bytes each held while training, and the inference energy.
 */
export function masterComparison(rows: readonly CostRow[]): string[] {
  const byName = new Map(rows.map((r) => [`${r.series}\u0000${r.bits}`, r]));
  const pairs = [...new Set(rows.map((r) => r.series))].filter((s) => seriesParts(s).master === 'compact');
  if (pairs.length === 0) return [];
  const out = [
    '## Float32 master against compact weights only',
    '',
    'Straight-through training on float32 master weights against training that holds only the compact weights (updates rounded stochastically onto the grid or between dictionary entries; momentum float32). Test accuracy: mean [95% t-interval over seeds]. Training state: weights plus optimizer state held while training (`metrics.trainingStateBytes`). Energy: estimated per inference image (docs/ENERGY.md; the same for both masters, which deploy the same representation).',
    '',
  ];
  for (const compact of pairs) {
    const float = compact.slice(0, compact.lastIndexOf('/'));
    const bits = [...new Set(rows.filter((r) => r.series === compact || r.series === float).map((r) => r.bits))].sort((a, b) => a - b);
    out.push(`### \`${float}\``, '', '| bits | float32 master | compact only | n | training state, float32 master | training state, compact only | energy per image |', '|---:|---:|---:|---:|---:|---:|---:|');
    for (const b of bits) {
      const f = byName.get(`${float}\u0000${b}`);
      const c = byName.get(`${compact}\u0000${b}`);
      out.push(
        `| ${b} | ${interval(f?.testAccuracy)} | ${interval(c?.testAccuracy)} | ${f?.n ?? 0} / ${c?.n ?? 0} | ${kib(f?.trainingStateBytes)} | ${kib(c?.trainingStateBytes)} | ${microjoules(c?.energyPj ?? f?.energyPj)} |`,
      );
    }
    out.push('');
  }
  return out;
}

