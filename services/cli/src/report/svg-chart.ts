/** A line chart as a standalone SVG string: no native dependency, no fonts to fetch, readable on GitHub. */
export interface ChartPoint {
  x: number;
  y: number;
  /** Spread (e.g. over seeds) drawn as a band around the line. */
  min?: number;
  max?: number;
}
export interface ChartSeries {
  name: string;
  points: ChartPoint[];
  dashed?: boolean;
}
export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** A dashed horizontal reference line, e.g. the float32 baseline at 100%. */
  reference?: { y: number; label: string };
  xTicks?: number[];
  yRange?: [number, number];
  /** A logarithmic x axis (sizes and energies spanning decades), ticked at 1, 2 and 5 times powers of ten. */
  xLog?: boolean;
  xFormat?: (x: number) => string;
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) for (const m of [1, 2, 5]) if (m * 10 ** e >= lo && m * 10 ** e <= hi) out.push(m * 10 ** e);
  return out;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#393b79', '#637939'];
const W = 860;
const PLOT = { left: 70, top: 50, width: 470, height: 340 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number) => (Math.abs(n) >= 100 || Number.isInteger(n) ? n.toFixed(0) : n.toFixed(1));

function niceTicks(lo: number, hi: number, count = 6): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

export function lineChartSvg(chart: LineChart): string {
  const all = chart.series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x).concat(chart.xTicks ?? []);
  const ys = all.flatMap((p) => [p.y, p.min ?? p.y, p.max ?? p.y]).concat(chart.reference ? [chart.reference.y] : []);
  const lx = (x: number) => (chart.xLog ? Math.log10(x) : x);
  const [x0, x1] = [Math.min(...xs.map(lx)), Math.max(...xs.map(lx))];
  const [y0, y1] = chart.yRange ?? [Math.min(...ys), Math.max(...ys)];
  const pad = (y1 - y0) * 0.05 || 1;
  const [ylo, yhi] = chart.yRange ?? [y0 - pad, y1 + pad];
  const sx = (x: number) => PLOT.left + ((lx(x) - x0) / (x1 - x0 || 1)) * PLOT.width;
  const fx = chart.xFormat ?? fmt;
  const sy = (y: number) => PLOT.top + PLOT.height - ((Math.min(Math.max(y, ylo), yhi) - ylo) / (yhi - ylo || 1)) * PLOT.height;
  const height = Math.max(PLOT.top + PLOT.height + 60, PLOT.top + 20 * chart.series.length + 40);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${PLOT.left}" y="28" font-size="15" font-weight="bold">${esc(chart.title)}</text>`,
  ];
  for (const t of chart.xTicks ?? (chart.xLog ? logTicks(10 ** x0, 10 ** x1) : niceTicks(x0, x1))) {
    parts.push(`<line x1="${sx(t)}" y1="${PLOT.top}" x2="${sx(t)}" y2="${PLOT.top + PLOT.height}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(t)}" y="${PLOT.top + PLOT.height + 16}" text-anchor="middle">${esc(fx(t))}</text>`);
  }
  for (const t of niceTicks(ylo, yhi)) {
    parts.push(`<line x1="${PLOT.left}" y1="${sy(t)}" x2="${PLOT.left + PLOT.width}" y2="${sy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${PLOT.left - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.width}" height="${PLOT.height}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${PLOT.left + PLOT.width / 2}" y="${PLOT.top + PLOT.height + 36}" text-anchor="middle">${esc(chart.xLabel)}</text>`);
  parts.push(`<text transform="translate(20 ${PLOT.top + PLOT.height / 2}) rotate(-90)" text-anchor="middle">${esc(chart.yLabel)}</text>`);
  if (chart.reference) {
    const y = sy(chart.reference.y);
    parts.push(`<line x1="${PLOT.left}" y1="${y}" x2="${PLOT.left + PLOT.width}" y2="${y}" stroke="#000" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${PLOT.left + 4}" y="${y - 4}" fill="#000">${esc(chart.reference.label)}</text>`);
  }
  chart.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    const banded = pts.filter((p) => p.min !== undefined && p.max !== undefined && p.max > p.min);
    if (banded.length > 1) {
      const upper = pts.map((p) => `${sx(p.x)},${sy(p.max ?? p.y)}`);
      const lower = pts.map((p) => `${sx(p.x)},${sy(p.min ?? p.y)}`).reverse();
      parts.push(`<polygon points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="0.12" stroke="none"/>`);
    }
    const dash = s.dashed ? ' stroke-dasharray="7 4"' : '';
    parts.push(`<polyline points="${pts.map((p) => `${sx(p.x)},${sy(p.y)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    for (const p of pts) parts.push(`<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="3" fill="${color}"><title>${esc(s.name)}: ${esc(fx(p.x))} → ${p.y.toFixed(2)}</title></circle>`);
    const ly = PLOT.top + 8 + i * 20;
    parts.push(`<line x1="${PLOT.left + PLOT.width + 20}" y1="${ly}" x2="${PLOT.left + PLOT.width + 44}" y2="${ly}" stroke="${color}" stroke-width="3"${dash}/>`);
    parts.push(`<text x="${PLOT.left + PLOT.width + 50}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
