/**
 * A sensitivity sweep's per-layer figure (preset "sensitivity"): relative accuracy against the width of the one
 * layer quantized, one line per layer (inference phase solid, training phase dashed), float32 at 100%.
 */
import type { SweepDocument } from '@quantlab/shared/schemas/sweep';
import { align, colorOf, lineChart, type Chart, type ChartLine, type ChartSpec } from '../charts.ts';
import { h } from '../dom.ts';

/** `<family>/<phase>/layer:<name>` (layer names may hold slashes: resnet20's stage1/block1/conv1). */
const LAYER_SERIES = /^(.*)\/(training|inference)\/layer:(.+)$/;

/** Whether a series is one of the per-layer-width kinds the main figure leaves to this one and to the report. */
export const isPerLayerSeries = (series: string): boolean => /\/(layer|bits):/.test(series);

export function sensitivitySpec(doc: SweepDocument): ChartSpec & { layers: string[] } {
  const cells = doc.summary.flatMap((r) => {
    const m = LAYER_SERIES.exec(r.series);
    return m && r.relativeAccuracy.mean !== null ? [{ phase: m[2], layer: m[3], row: r }] : [];
  });
  // Layers in the order the runs name them (the model's order: the preset queues them so).
  const layers = [...new Set(doc.runs.flatMap((r) => LAYER_SERIES.exec(r.series)?.[3] ?? []))];
  const keys = [...new Set(cells.map((c) => `${c.phase}\u0000${c.layer}`))].sort((a, b) => {
    const [pa, la] = a.split('\u0000');
    const [pb, lb] = b.split('\u0000');
    return (pa === pb ? 0 : pa === 'inference' ? -1 : 1) || layers.indexOf(la) - layers.indexOf(lb);
  });
  const pts = keys.map((k) =>
    cells
      .filter((c) => `${c.phase}\u0000${c.layer}` === k)
      .map((c) => {
        const a = c.row.relativeAccuracy;
        return { x: c.row.bits, y: a.mean! * 100, min: (a.ci95?.low ?? a.min!) * 100, max: (a.ci95?.high ?? a.max!) * 100 };
      }),
  );
  const { x, ys, mins, maxs } = align(pts);
  const lines: ChartLine[] = keys.map((k, i) => {
    const [phase, layer] = k.split('\u0000');
    return {
      label: `${layer} · ${phase}`,
      color: colorOf(layers.indexOf(layer)),
      dash: phase === 'training' ? [6, 4] : undefined,
      y: ys[i],
      ...(cells.some((c) => `${c.phase}\u0000${c.layer}` === k && c.row.n > 1) ? { min: mins[i], max: maxs[i] } : {}),
    };
  });
  if (x.length) lines.push({ label: 'float32 baseline', color: '#333333', dash: [2, 4], width: 1.5, points: false, reference: true, y: x.map(() => 100) });
  return { xLabel: 'Bits of the one quantized layer', yLabel: 'Relative accuracy (%)', x, lines, xIntegers: true, yFormat: (v: number) => v.toFixed(2), height: 320, layers };
}

/** The card with the figure; hidden until the sweep has a one-layer series. */
export function sensitivityCard(): { el: HTMLElement; chart: Chart; update(doc: SweepDocument): void } {
  const chart = lineChart({ xLabel: '', yLabel: '', x: [], lines: [] });
  chart.el.id = 'chart-sensitivity';
  const el = h(
    'section',
    { class: 'card', id: 'sensitivity' },
    h('h2', null, 'Per-layer sensitivity'),
    h('p', { class: 'hint' }, 'Each line quantizes one layer alone (the others stay float32); mean over seeds with its 95% interval. quantlab allocate SWEEP --target 0.99 chooses the widths.'),
    chart.el,
  );
  el.hidden = true;
  return {
    el,
    chart,
    update(doc) {
      const spec = sensitivitySpec(doc);
      el.hidden = spec.lines.length === 0;
      if (el.hidden) return;
      chart.update(spec);
      chart.el.dataset.layers = spec.layers.join(',');
    },
  };
}
