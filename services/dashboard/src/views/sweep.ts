import type { SweepDocument, SweepSummaryRow } from '@quantlab/shared/schemas/sweep';
import { api, saveBlob } from '../api.ts';
import { summaryCsv } from '../csv.ts';
import { fill, h } from '../dom.ts';
import { bytes, bytesShort, DASH, num, pct, progressBar, seriesLabel, statusBadge } from '../format.ts';
import { every, type ViewContext } from '../router.ts';
import { align, colorOf, lineChart, type ChartLine } from '../charts.ts';
import { pageHeader, runsTable, showError } from '../components.ts';
import { isPerLayerSeries, sensitivityCard } from './sensitivity.ts';
import { seriesParts } from '@quantlab/shared/schemas/label';

const FINAL = new Set(['completed', 'failed', 'cancelled']);
/** Runs stopped early by the sweep's rule: drawn greyed, apart from the series (which aggregate completed runs). */
const STOPPED_COLOR = '#9aa5b1';

const isBaseline = (series: string) => series.startsWith('float32/');

/** Training phase with a float32 master, then with compact weights only, then the inference phase. */
const phaseRank = (s: string) => {
  const p = seriesParts(s);
  return p.phase === 'training' ? (p.master === 'compact' ? 1 : 0) : 2;
};
const family = (s: string) => seriesParts(s).family;
/** Inference phase dashed, compact-only training dotted; the float32-master training line solid. */
const dashOf = (s: string): number[] | undefined => {
  const p = seriesParts(s);
  return p.master === 'compact' ? [2, 3] : p.phase === 'inference' ? [6, 4] : undefined;
};

/** Series in a stable order: fixed before dictionary, each representation's training phase before its inference phase. */
function seriesOrder(rows: SweepSummaryRow[]): string[] {
  const kindRank = (s: string) => (s.startsWith('fixed/') ? 0 : 1);
  return [...new Set(rows.map((r) => r.series))]
    .filter((s) => !isBaseline(s))
    .sort((a, b) => kindRank(a) - kindRank(b) || family(a).localeCompare(family(b)) || phaseRank(a) - phaseRank(b));
}

/** One colour per representation; its phases and masters share it and differ by dash (inference dashed, compact dotted). */
function colorsOf(order: string[]): Map<string, string> {
  const families = [...new Set(order.map(family))];
  return new Map(order.map((s) => [s, colorOf(families.indexOf(family(s)))]));
}

type Stat = SweepDocument['summary'][number]['testAccuracy'];
type Row = SweepDocument['summary'][number];

/** The mean with its 95% t-interval over seeds (from two seeds on), else the range. */
function range(s: Stat, f: (x: number | null) => string): HTMLElement {
  if (s.ci95) return h('span', { title: '95% t-interval of the mean over seeds' }, f(s.mean), h('span', { class: 'sub-inline' }, ` [${f(s.ci95.low)}, ${f(s.ci95.high)}]`));
  return h('span', null, f(s.mean), s.min !== null && s.max !== null && s.min !== s.max ? h('span', { class: 'sub-inline' }, ` ${f(s.min)} – ${f(s.max)}`) : null);
}

/** Each run of a row: its accuracy with the binomial interval, and McNemar's p against its seed's baseline. */
function perSeed(r: Row): HTMLElement | string {
  if (!r.seeds?.length) return DASH;
  return h(
    'span',
    null,
    r.seeds.map((s, i) =>
      h(
        'span',
        { class: 'seed', 'data-seed': s.seed, title: s.mcnemar ? `only this run right ${s.mcnemar.b}, only the baseline right ${s.mcnemar.c}` : 'no paired test (no bitset)' },
        `${i ? '; ' : ''}s${s.seed} ${pct(s.testAccuracy)}${s.binomial95 ? ` [${pct(s.binomial95.low)}, ${pct(s.binomial95.high)}]` : ''}${s.mcnemar ? ` p ${s.mcnemar.p < 0.001 ? '< 0.001' : s.mcnemar.p.toFixed(3)}` : ''}`,
      ),
    ),
  );
}

function summaryTable(doc: SweepDocument): HTMLElement {
  if (doc.summary.length === 0) return h('p', { class: 'empty' }, 'No run has finished yet.');
  const order = seriesOrder(doc.summary);
  const colors = colorsOf(order);
  const rank = (s: string) => (isBaseline(s) ? -1 : order.indexOf(s));
  const rows = [...doc.summary].sort((a, b) => rank(a.series) - rank(b.series) || a.bits - b.bits);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table summary-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', null, 'Series'),
          h('th', { class: 'num' }, 'Bits'),
          h('th', { class: 'num' }, 'Runs'),
          h('th', { class: 'num' }, 'Test accuracy'),
          h('th', { class: 'num', title: 'mean [95% t-interval over seeds]' }, 'Relative accuracy'),
          h('th', { title: 'each seed: test accuracy [binomial 95%], McNemar p against its float32 baseline' }, 'Per seed'),
          h('th', { class: 'num' }, 'Compact size'),
          h('th', { class: 'num' }, 'Compression'),
          h('th', { class: 'num', title: 'weights plus optimizer state held while training (mean over seeds)' }, 'Training state'),
          h('th', { class: 'num', title: 'estimated energy of one inference image, Horowitz 45 nm (docs/ENERGY.md)' }, 'Energy / image'),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((r) =>
          h(
            'tr',
            { 'data-series': r.series, 'data-bits': r.bits, class: isBaseline(r.series) ? 'baseline' : null },
            h('td', null, h('span', { class: 'swatch', style: `background:${isBaseline(r.series) ? '#333' : colors.get(r.series)}` }), seriesLabel(r.series)),
            h('td', { class: 'num' }, r.bits),
            h('td', { class: 'num', 'data-col': 'n' }, r.n === r.runs ? r.n : `${r.n} of ${r.runs}`),
            h('td', { class: 'num', 'data-col': 'test-acc', 'data-value': r.testAccuracy.mean ?? '' }, range(r.testAccuracy, (x) => pct(x))),
            h('td', { class: 'num', 'data-col': 'rel-acc', 'data-value': r.relativeAccuracy.mean ?? '' }, range(r.relativeAccuracy, (x) => pct(x))),
            h('td', { 'data-col': 'seeds' }, perSeed(r)),
            h('td', { class: 'num', 'data-col': 'bytes', 'data-value': r.compactBytes ?? '' }, bytes(r.compactBytes)),
            h('td', { class: 'num', 'data-col': 'ratio' }, r.compressionRatio === null ? DASH : `${num(r.compressionRatio, 1)}×`),
            h('td', { class: 'num', 'data-col': 'training-bytes', 'data-value': r.trainingStateBytes ?? '' }, bytes(r.trainingStateBytes)),
            h('td', { class: 'num', 'data-col': 'energy', 'data-value': r.energyPj ?? '' }, r.energyPj === null ? DASH : `${num(r.energyPj / 1e6, 2)} µJ`),
          ),
        ),
      ),
    ),
  );
}

/** The paper's figure: relative accuracy (%) against bits, one line per series, float32 at 100%. */
function relativeSpec(doc: SweepDocument) {
  // Per-layer width series (sensitivity, allocations) have no place on a bits axis: the sensitivity card draws them.
  const order = seriesOrder(doc.summary).filter((s) => !isPerLayerSeries(s));
  const pts = order.map((s) =>
    doc.summary
      .filter((r) => r.series === s && r.relativeAccuracy.mean !== null)
      .map((r) => ({ x: r.bits, y: r.relativeAccuracy.mean! * 100, min: r.relativeAccuracy.min! * 100, max: r.relativeAccuracy.max! * 100 })),
  );
  const stopped = stoppedPoints(doc);
  const { x, ys, mins, maxs } = align([...pts, stopped]);
  const colors = colorsOf(order);
  const lines: ChartLine[] = order.map((s, i) => ({
    label: seriesLabel(s),
    color: colors.get(s)!,
    dash: dashOf(s),
    y: ys[i],
    ...(doc.summary.some((r) => r.series === s && r.n > 1) ? { min: mins[i], max: maxs[i] } : {}),
  }));
  if (stopped.length) {
    const i = order.length;
    lines.push({ label: 'stopped early (last epoch)', color: STOPPED_COLOR, width: 0, y: ys[i], ...(stopped.some((p) => p.min !== p.max) ? { min: mins[i], max: maxs[i] } : {}) });
  }
  const hasBaseline = doc.summary.some((r) => isBaseline(r.series) && r.n > 0);
  if (hasBaseline && x.length) lines.push({ label: 'float32 baseline', color: '#333333', dash: [2, 4], width: 1.5, points: false, reference: true, y: x.map(() => 100) });
  return { xLabel: 'Total bits per weight', yLabel: 'Relative accuracy (%)', x, lines, xIntegers: true, yFormat: (v: number) => v.toFixed(2), height: 340 };
}

/**
 * The runs the stopping rule ended, by bits: their last epoch's test accuracy relative to their baseline's (mean,
 * min and max over the runs at that width).
 */
function stoppedPoints(doc: SweepDocument): { x: number; y: number; min: number; max: number }[] {
  const byId = new Map(doc.runs.map((r) => [r.id, r]));
  const byBits = new Map<number, number[]>();
  for (const r of doc.runs) {
    const base = r.baselineId ? byId.get(r.baselineId)?.metrics.testAccuracy : null;
    const last = r.epochs[r.epochs.length - 1]?.testAccuracy;
    if (r.status !== 'stopped' || typeof base !== 'number' || base <= 0 || typeof last !== 'number') continue;
    const bits = r.config.representation.kind === 'float32' ? 32 : r.config.representation.bits;
    byBits.set(bits, [...(byBits.get(bits) ?? []), (100 * last) / base]);
  }
  return [...byBits].map(([x, ys]) => ({ x, y: ys.reduce((a, b) => a + b, 0) / ys.length, min: Math.min(...ys), max: Math.max(...ys) }));
}

type CostField = 'compactBytes' | 'trainingStateBytes' | 'energyPj';
const COST_AXES: Record<CostField, { xLabel: string; xFormat: (v: number) => string }> = {
  compactBytes: { xLabel: 'Compact model size (bytes, log scale)', xFormat: (v) => bytesShort(v) },
  trainingStateBytes: { xLabel: 'Weights + optimizer state while training (bytes, log scale)', xFormat: (v) => bytesShort(v) },
  energyPj: { xLabel: 'Energy per inference image (µJ, 45 nm estimate, log scale)', xFormat: (v) => String(Number((v / 1e6).toPrecision(3))) },
};

/** Test accuracy against a cost (the packed model's size, the bytes training held, the energy of an image). */
function costSpec(doc: SweepDocument, field: CostField) {
  const order = [...seriesOrder(doc.summary), ...new Set(doc.summary.filter((r) => isBaseline(r.series)).map((r) => r.series))];
  const pts = order.map((s) =>
    doc.summary
      .filter((r) => r.series === s && r[field] !== null && r.testAccuracy.mean !== null)
      .map((r) => ({ x: r[field]!, y: r.testAccuracy.mean! * 100, min: r.testAccuracy.min! * 100, max: r.testAccuracy.max! * 100 })),
  );
  const { x, ys, mins, maxs } = align(pts);
  const colors = colorsOf(order.filter((s) => !isBaseline(s)));
  const lines: ChartLine[] = order.map((s, i) => ({
    label: seriesLabel(s),
    color: colors.get(s) ?? '#333333',
    dash: dashOf(s),
    y: ys[i],
    ...(doc.summary.some((r) => r.series === s && r.n > 1) ? { min: mins[i], max: maxs[i] } : {}),
  }));
  // Runs stored before a cost was measured have none: an empty chart, on a linear axis (a log scale needs data).
  return { xLabel: COST_AXES[field].xLabel, yLabel: 'Test accuracy (%)', x, lines, xLog: x.length > 0, xFormat: COST_AXES[field].xFormat, yFormat: (v: number) => v.toFixed(2), height: 340 };
}

export function sweepView({ root, params, signal }: ViewContext): void {
  const id = params[0];
  const head = h('div');
  const err = h('div');
  const rel = lineChart({ xLabel: '', yLabel: '', x: [], lines: [] });
  const size = lineChart({ xLabel: '', yLabel: '', x: [], lines: [] });
  const stateSize = lineChart({ xLabel: '', yLabel: '', x: [], lines: [] });
  const energy = lineChart({ xLabel: '', yLabel: '', x: [], lines: [] });
  rel.el.id = 'chart-relative';
  size.el.id = 'chart-bytes';
  const sensitivity = sensitivityCard();
  stateSize.el.id = 'chart-training-bytes';
  energy.el.id = 'chart-energy';
  signal.addEventListener('abort', () => {
    rel.destroy();
    size.destroy();
    stateSize.destroy();
    energy.destroy();
    sensitivity.chart.destroy();
  });
  const summary = h('div');
  const runs = h('div');
  // Big sweeps (hundreds of runs) keep their run table folded until asked for; the figure and summary come first.
  const runsFold = h('details', { class: 'fold' }, h('summary', null, 'Show the runs'), runs);
  let folded: boolean | null = null;
  runsFold.addEventListener('toggle', () => {
    (runsFold.firstChild as HTMLElement).textContent = `${runsFold.open ? 'Hide' : 'Show'} the ${runs.querySelectorAll('tbody tr').length} runs`;
  });
  const csvButton = h(
    'button',
    { type: 'button', id: 'download-csv', onclick: () => doc && saveBlob(new Blob([summaryCsv(doc)], { type: 'text/csv' }), `${doc.id}-summary.csv`) },
    'Download CSV',
  );
  const selected = new Set<string>();
  const compare = h('a', { class: 'button', href: '#/compare' }, 'Compare selected');
  const updateCompare = () => {
    compare.textContent = `Compare selected (${selected.size})`;
    compare.setAttribute('href', `#/compare?ids=${[...selected].map(encodeURIComponent).join(',')}`);
  };
  fill(
    root,
    head,
    err,
    h('div', { class: 'grid-2' }, h('section', { class: 'card' }, h('h2', null, 'Relative accuracy vs. bits per weight'), rel.el), h('section', { class: 'card' }, h('h2', null, 'Test accuracy vs. model size'), size.el)),
    sensitivity.el,
    h(
      'div',
      { class: 'grid-2' },
      h('section', { class: 'card' }, h('h2', null, 'Test accuracy vs. training-state bytes'), stateSize.el),
      h('section', { class: 'card' }, h('h2', null, 'Test accuracy vs. energy per image'), energy.el),
    ),
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', null, 'Summary'), h('div', { class: 'section-actions' }, csvButton)),
      h('p', { class: 'hint' }, 'Mean over seeds of completed runs; the smaller numbers are the min – max.'),
      summary,
    ),
    h('section', { class: 'card' }, h('div', { class: 'section-head' }, h('h2', null, 'Runs'), h('div', { class: 'section-actions' }, compare)), runsFold),
  );

  let doc: SweepDocument | null = null;
  const render = (d: SweepDocument) => {
    doc = d;
    const c = d.counts;
    const total = d.runs.length || 1;
    const done = c.completed + c.failed + c.cancelled + c.stopped;
    fill(
      head,
      pageHeader(
        [d.name, ' ', statusBadge(d.status)],
        h('span', { class: 'muted mono' }, d.id),
        d.preset ? h('span', { class: 'muted' }, `preset ${d.preset} (${d.budget})`) : null,
        FINAL.has(d.status) ? null : h('button', { type: 'button', class: 'danger', onclick: cancel }, 'Cancel sweep'),
      ),
      h('div', { class: 'run-progress' }, progressBar(done / total, d.status, `${done}/${d.runs.length} runs finished`)),
    );
    const r = relativeSpec(d);
    rel.update(r);
    size.update(costSpec(d, 'compactBytes'));
    stateSize.update(costSpec(d, 'trainingStateBytes'));
    energy.update(costSpec(d, 'energyPj'));
    sensitivity.update(d);
    // What the figure shows, for tests and screen readers: runs aggregated into its points.
    rel.el.dataset.runs = String(d.summary.reduce((n, row) => n + row.n, 0));
    rel.el.dataset.stopped = String(d.runs.filter((run) => run.status === 'stopped').length);
    rel.el.setAttribute('aria-label', `relative accuracy of ${r.lines.length} series`);
    fill(summary, summaryTable(d));
    if (folded === null) {
      folded = d.runs.length > 40;
      runsFold.open = !folded;
    }
    (runsFold.firstChild as HTMLElement).textContent = `${runsFold.open ? 'Hide' : 'Show'} the ${d.runs.length} runs`;
    fill(runs, runsTable(d.runs, { selected, onSelect: updateCompare, compact: true }));
    updateCompare();
  };
  async function cancel(this: HTMLButtonElement): Promise<void> {
    this.disabled = true;
    try {
      await api.cancelSweep(id);
      await load();
    } catch (e) {
      showError(err, e);
      this.disabled = false;
    }
  }
  async function load(): Promise<void> {
    const d = await api.getSweep(id, signal);
    if (signal.aborted) return;
    showError(err, null);
    render(d);
  }
  every(3000, async () => {
    if (!doc || !FINAL.has(doc.status)) await load();
  }, signal, (e) => showError(err, e));
}
