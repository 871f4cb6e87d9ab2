import uPlot from 'uplot';
import { h } from './dom.ts';

/** Categorical colours with enough contrast on white (Tableau 10). */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export function colorOf(i: number): string {
  return PALETTE[i % PALETTE.length];
}

export interface ChartLine {
  label: string;
  y: (number | null)[];
  color: string;
  dash?: number[];
  /** A min–max band drawn behind the line (several seeds). */
  min?: (number | null)[];
  max?: (number | null)[];
  points?: boolean;
  width?: number;
  /** A reference line (e.g. the 100% baseline): drawn, but not counted as data points. */
  reference?: boolean;
}

export interface ChartSpec {
  xLabel: string;
  yLabel: string;
  x: number[];
  lines: ChartLine[];
  xLog?: boolean;
  xFormat?: (v: number) => string;
  /** A y value as the hover box and legend write it (axis ticks get the decimals their spacing needs). */
  yFormat?: (v: number) => string;
  /** Integer ticks only (epochs, bits). */
  xIntegers?: boolean;
  height?: number;
}

export interface Chart {
  el: HTMLElement;
  update(spec: ChartSpec): void;
  destroy(): void;
}

function alpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

/** A hover box with the x value and each line's value there (with its min–max when it has a band). */
function tooltip(spec: () => ChartSpec): uPlot.Plugin {
  let tip: HTMLElement;
  const fmtX = (v: number) => (spec().xFormat ? spec().xFormat!(v) : String(v));
  // More digits than the axis: the tooltip is where exact values are read.
  const fmtY = (v: number) => (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? Number(v.toPrecision(4)).toString() : v.toExponential(2));
  return {
    hooks: {
      init: (u) => {
        tip = h('div', { class: 'chart-tip' });
        tip.hidden = true;
        u.over.appendChild(tip);
      },
      setCursor: (u) => {
        const idx = u.cursor.idx;
        const { left, top } = u.cursor;
        if (idx === null || idx === undefined || left === undefined || left < 0) {
          tip.hidden = true;
          return;
        }
        const rows: HTMLElement[] = [];
        u.series.forEach((s, i) => {
          if (i === 0 || s.class === 'band-edge') return;
          const v = u.data[i][idx];
          if (v === null || v === undefined) return;
          const next = u.series[i + 1];
          const band = next?.class === 'band-edge' ? [u.data[i + 2][idx], u.data[i + 1][idx]] : null;
          const color = spec().lines.find((l) => l.label === s.label)?.color ?? '#333';
          rows.push(
            h('div', { class: 'tip-row' }, h('span', { class: 'swatch', style: `background:${color}` }), h('span', { class: 'tip-label' }, s.label as string), h('b', null, fmtY(v)), band && band[0] !== band[1] && band[0] !== null && band[1] !== null ? h('span', { class: 'sub-inline' }, ` ${fmtY(band[0]!)} – ${fmtY(band[1]!)}`) : null),
          );
        });
        if (rows.length === 0) {
          tip.hidden = true;
          return;
        }
        tip.replaceChildren(h('div', { class: 'tip-x' }, `${spec().xLabel}: ${fmtX(u.data[0][idx])}`), ...rows);
        tip.hidden = false;
        const w = u.over.clientWidth;
        const flip = left > w / 2;
        tip.style.left = flip ? '' : `${left + 14}px`;
        tip.style.right = flip ? `${w - left + 14}px` : '';
        tip.style.top = `${Math.max(0, (top ?? 0) - 10)}px`;
      },
    },
  };
}

/**
 * Labels for linear axis ticks with as many decimals as their spacing needs: ticks 0.2 apart over 98.8-100.2 read
 * 98.8, 99.0, 99.2, ... (not 99, 99, 99), ticks 0.25 apart get two decimals, whole-number ticks none. At most 6.
 */
export function tickLabels(splits: readonly number[]): string[] {
  const sorted = splits.filter(Number.isFinite).sort((a, b) => a - b);
  let step = Infinity;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] - sorted[i - 1] > 0) step = Math.min(step, sorted[i] - sorted[i - 1]);
  if (!Number.isFinite(step)) step = Math.abs(sorted[0] ?? 1) || 1;
  // The fewest decimals that write every tick exactly (to a thousandth of the spacing: splits carry float noise).
  let decimals = 0;
  while (decimals < 6 && sorted.some((v) => Math.abs(Number(v.toFixed(decimals)) - v) > step * 1e-3)) decimals++;
  return splits.map((v) => (Number.isFinite(v) ? v.toFixed(decimals) : ''));
}

function build(spec: ChartSpec, width: number, current: () => ChartSpec, onTicks: (axis: 'x' | 'y', labels: string[]) => void): { opts: uPlot.Options; data: uPlot.AlignedData } {
  const series: uPlot.Series[] = [{ label: spec.xLabel, value: (_u, v) => (v === null ? '–' : spec.xFormat ? spec.xFormat(v) : String(v)) }];
  const data: (number | null)[][] = [spec.x];
  const bands: uPlot.Band[] = [];
  const yValue = (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : spec.yFormat ? spec.yFormat(v) : v.toFixed(3));
  for (const line of spec.lines) {
    const idx = data.length;
    series.push({
      label: line.label,
      stroke: line.color,
      width: line.width ?? 2,
      dash: line.dash,
      spanGaps: true,
      value: yValue,
      points: { show: line.points ?? true, size: 6, fill: line.color },
    });
    data.push(line.y);
    if (line.min && line.max) {
      const edge = { stroke: alpha(line.color, 0.35), width: 0.5, spanGaps: true, points: { show: false }, class: 'band-edge', value: yValue };
      series.push({ ...edge, label: `${line.label} max` }, { ...edge, label: `${line.label} min` });
      data.push(line.max, line.min);
      bands.push({ series: [idx + 1, idx + 2], fill: alpha(line.color, 0.15) });
    }
  }
  const axisStyle = { stroke: '#4a5568', grid: { stroke: '#edf0f4', width: 1 }, ticks: { stroke: '#cbd2dc', width: 1 }, font: '12px system-ui, sans-serif', labelFont: '600 12px system-ui, sans-serif' };
  const opts: uPlot.Options = {
    width,
    height: spec.height ?? 300,
    series,
    bands,
    scales: { x: { time: false, distr: spec.xLog ? 3 : 1, log: 2 } },
    axes: [
      {
        ...axisStyle,
        label: spec.xLabel,
        incrs: spec.xIntegers ? [1, 2, 4, 5, 10, 20, 50, 100] : undefined,
        values: (_u, splits) => {
          const labels = spec.xFormat ? splits.map((v) => spec.xFormat!(v)) : tickLabels(splits);
          onTicks('x', labels);
          return labels;
        },
      },
      {
        ...axisStyle,
        label: spec.yLabel,
        size: 60,
        values: (_u, splits) => {
          const labels = tickLabels(splits);
          onTicks('y', labels);
          return labels;
        },
      },
    ],
    legend: { live: false },
    plugins: [tooltip(current)],
    padding: [12, 28, 0, 0],
    cursor: { points: { size: 8 } },
  };
  return { opts, data: data as uPlot.AlignedData };
}

function keyOf(spec: ChartSpec): string {
  return JSON.stringify([spec.xLabel, spec.yLabel, spec.xLog, spec.lines.map((l) => [l.label, l.color, !!l.min])]);
}

/** A uPlot chart that follows its container's width; update() keeps the chart when only the data changed. */
export function lineChart(spec: ChartSpec): Chart {
  const el = h('div', { class: 'chart' });
  let plot: uPlot | null = null;
  let key = '';
  let current = spec;
  const width = () => Math.max(280, el.clientWidth || 640);
  const render = () => {
    const k = keyOf(current);
    // The tick labels as drawn (uPlot paints them on the canvas), for tests and screen readers.
    const { opts, data } = build(current, width(), () => current, (axis, labels) => (el.dataset[axis === 'x' ? 'xTicks' : 'yTicks'] = labels.join('|')));
    if (plot && k === key) {
      plot.setData(data);
    } else {
      plot?.destroy();
      plot = new uPlot(opts, data, el);
      key = k;
    }
    const points = current.lines.filter((l) => !l.reference).reduce((n, l) => n + l.y.filter((v) => v !== null && v !== undefined).length, 0);
    el.dataset.series = String(current.lines.length);
    el.dataset.points = String(points);
  };
  const ro = new ResizeObserver(() => {
    if (plot && Math.abs(plot.width - width()) > 2) plot.setSize({ width: width(), height: current.height ?? 300 });
  });
  ro.observe(el);
  // The element is not in the document yet: render once it is, so the chart gets the real width.
  queueMicrotask(render);
  return {
    el,
    update(next) {
      current = next;
      render();
    },
    destroy() {
      ro.disconnect();
      plot?.destroy();
      plot = null;
    },
  };
}

/** Joins several (x, y) point lists on the union of their x values, as uPlot wants one shared x array. */
export function align(lists: { x: number; y: number | null; min?: number | null; max?: number | null }[][]): {
  x: number[];
  ys: (number | null)[][];
  mins: (number | null)[][];
  maxs: (number | null)[][];
} {
  const x = [...new Set(lists.flat().map((p) => p.x))].sort((a, b) => a - b);
  const pos = new Map(x.map((v, i) => [v, i]));
  const blank = () => x.map(() => null as number | null);
  const ys = lists.map(blank);
  const mins = lists.map(blank);
  const maxs = lists.map(blank);
  lists.forEach((pts, li) => {
    for (const p of pts) {
      const i = pos.get(p.x)!;
      ys[li][i] = p.y;
      mins[li][i] = p.min ?? null;
      maxs[li][i] = p.max ?? null;
    }
  });
  return { x, ys, mins, maxs };
}
