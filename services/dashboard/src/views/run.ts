import type { RunDocument } from '@quantlab/shared/schemas/run';
import { api, saveBlob } from '../api.ts';
import { fill, h } from '../dom.ts';
import { bitsLabel, bytes, DASH, duration, num, pct, reprLabel, runProgress, statusBadge } from '../format.ts';
import { every, type ViewContext } from '../router.ts';
import { lineChart, PALETTE } from '../charts.ts';
import { errorBox, pageHeader, showError, stats } from '../components.ts';

const FINAL = new Set(['completed', 'failed', 'cancelled', 'stopped']);

function weightErrorTable(run: RunDocument): HTMLElement {
  const we = run.metrics.weightError;
  if (!we) return h('p', { class: 'empty' }, run.config.representation.kind === 'float32' ? 'float32 weights are stored exactly.' : 'Reported when the run finishes.');
  const hasSat = we.layers.some((l) => l.saturated !== undefined);
  const hasUnused = we.layers.some((l) => l.unusedEntries !== undefined);
  const hasScale = we.layers.some((l) => l.scale !== undefined || l.step !== undefined);
  const row = (name: string, l: { count?: number; mse: number; sqnrDb: number | null; saturated?: number; unusedEntries?: number; scale?: number; step?: number }, cls?: string) =>
    h(
      'tr',
      { class: cls ?? null },
      h('td', null, name),
      h('td', { class: 'num' }, l.count === undefined ? '' : l.count.toLocaleString('en-US')),
      h('td', { class: 'num' }, num(l.mse)),
      h('td', { class: 'num' }, l.sqnrDb === null ? DASH : `${l.sqnrDb.toFixed(1)} dB`),
      hasSat ? h('td', { class: 'num' }, l.saturated === undefined ? DASH : pct(l.saturated)) : null,
      hasUnused ? h('td', { class: 'num' }, l.unusedEntries ?? DASH) : null,
      hasScale ? h('td', { class: 'num' }, num(l.step ?? l.scale)) : null,
    );
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table weight-table' },
      h(
        'thead',
        null,
        h('tr', null, h('th', null, 'Layer'), h('th', { class: 'num' }, 'Weights'), h('th', { class: 'num' }, 'MSE'), h('th', { class: 'num' }, 'SQNR'), hasSat ? h('th', { class: 'num' }, 'Saturated') : null, hasUnused ? h('th', { class: 'num' }, 'Unused entries') : null, hasScale ? h('th', { class: 'num' }, 'Step / scale') : null),
      ),
      h('tbody', null, we.layers.map((l) => row(l.name, l)), row('all layers', { count: we.layers.reduce((n, l) => n + l.count, 0), ...we }, 'total')),
    ),
  );
}

function configList(run: RunDocument): HTMLElement {
  const c = run.config;
  const t = c.training;
  const items: [string, string][] = [
    ['Dataset', run.dataset ? `${c.dataset} (${run.dataset.train.toLocaleString('en-US')} train / ${run.dataset.test.toLocaleString('en-US')} test)` : c.dataset],
    ['Model', c.model],
    ['Representation', `${reprLabel(c.representation)}, ${bitsLabel(c.representation)} bits`],
    ['Phase', c.phase],
    ['Epochs', String(t.epochs)],
    ['Batch size', String(t.batchSize)],
    ['Learning rate', `${t.learningRate} (${t.schedule})`],
    ['Momentum / weight decay', `${t.momentum} / ${t.weightDecay}`],
    ['Seed', String(t.seed)],
    ['Training subset', t.trainLimit ? `first ${t.trainLimit}` : 'all'],
    ['Test subset', t.testLimit ? `first ${t.testLimit}` : 'all'],
  ];
  if (run.provenance) items.push(['Backend', `${run.provenance.backend} · tfjs ${run.provenance.tfjsVersion} · ${run.provenance.node}`]);
  if (run.workerId) items.push(['Worker', run.workerId]);
  return h('dl', { class: 'kv' }, items.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export function runView({ root, params, signal }: ViewContext): void {
  const id = params[0];
  const head = h('div');
  const statsEl = h('div');
  const failure = h('div');
  const err = h('div');
  const epochs = (r: RunDocument) => r.epochs.map((e) => e.epoch);
  const lossChart = lineChart({ xLabel: 'Epoch', yLabel: 'Training loss', x: [], lines: [], xIntegers: true });
  const accChart = lineChart({ xLabel: 'Epoch', yLabel: 'Accuracy (%)', x: [], lines: [], xIntegers: true, yFormat: (v) => v.toFixed(2) });
  signal.addEventListener('abort', () => {
    lossChart.destroy();
    accChart.destroy();
  });
  const weights = h('div');
  const config = h('div');
  const raw = h('pre', { class: 'json' });
  fill(
    root,
    head,
    err,
    failure,
    statsEl,
    h('div', { class: 'grid-2' }, h('section', { class: 'card' }, h('h2', null, 'Loss per epoch'), lossChart.el), h('section', { class: 'card' }, h('h2', null, 'Accuracy per epoch'), accChart.el)),
    h('div', { class: 'grid-2' }, h('section', { class: 'card' }, h('h2', null, 'Weight error per layer'), weights), h('section', { class: 'card' }, h('h2', null, 'Configuration'), config, h('details', null, h('summary', null, 'JSON'), raw))),
  );

  let run: RunDocument | null = null;
  const render = (r: RunDocument) => {
    run = r;
    const cancellable = r.status === 'queued' || r.status === 'running';
    fill(
      head,
      pageHeader(
        [r.name, ' ', statusBadge(r.status)],
        h('span', { class: 'muted mono' }, r.id),
        r.sweepId ? h('a', { href: `#/sweeps/${encodeURIComponent(r.sweepId)}` }, 'sweep') : null,
        h('a', { class: 'button', href: `#/compare?ids=${encodeURIComponent(r.id)}` }, 'Compare'),
        r.artifact ? h('button', { type: 'button', class: 'primary', id: 'download', onclick: download }, `Download model (${bytes(r.artifact.bytes)})`) : null,
        cancellable ? h('button', { type: 'button', class: 'danger', id: 'cancel', onclick: cancel }, 'Cancel run') : null,
      ),
      h('div', { class: 'run-progress' }, runProgress(r)),
    );
    fill(
      failure,
      r.error
        ? h('div', { class: 'alert alert-error' }, h('strong', null, `${r.status}: `), r.error.message)
        : r.stopped
          ? h('div', { class: 'alert alert-stopped', id: 'stopped-reason' }, h('strong', null, `stopped after epoch ${r.stopped.epoch}: `), r.stopped.reason)
          : null,
    );
    const m = r.metrics;
    // While a run trains, its final metrics are empty: show the latest epoch's instead.
    const last = r.epochs.length ? r.epochs[r.epochs.length - 1] : undefined;
    fill(
      statsEl,
      stats([
        ['Test accuracy', pct(m.testAccuracy ?? last?.testAccuracy), 'test-acc', m.testAccuracy === null && last ? `after epoch ${last.epoch}` : undefined],
        ['Relative to float32', pct(m.relativeAccuracy), 'rel-acc'],
        ['Training loss', num(m.trainLoss ?? last?.trainLoss, 4), 'loss', m.trainLoss === null && last ? `after epoch ${last.epoch}` : undefined],
        ['Weights', m.weightBytes ? bytes(m.weightBytes.compact) : DASH, 'bytes', m.weightBytes ? `${num(m.compressionRatio ?? m.weightBytes.float32 / m.weightBytes.compact, 1)}× smaller than float32` : undefined],
        ['Duration', duration(m.durationMs), 'duration', m.backend ?? undefined],
        ['Images / s', m.imagesPerSec === undefined ? DASH : Math.round(m.imagesPerSec).toLocaleString('en-US'), 'speed', m.imagesPerSec === undefined ? undefined : 'training'],
      ]),
    );
    const x = epochs(r);
    lossChart.update({ xLabel: 'Epoch', yLabel: 'Training loss', x, xIntegers: true, lines: [{ label: 'train loss', color: PALETTE[2], y: r.epochs.map((e) => e.trainLoss) }] });
    accChart.update({
      xLabel: 'Epoch',
      yLabel: 'Accuracy (%)',
      x,
      xIntegers: true,
      yFormat: (v) => v.toFixed(1),
      lines: [
        { label: 'test', color: PALETTE[0], y: r.epochs.map((e) => e.testAccuracy * 100) },
        { label: 'train', color: PALETTE[1], dash: [6, 4], y: r.epochs.map((e) => e.trainAccuracy * 100) },
      ],
    });
    fill(weights, weightErrorTable(r));
    fill(config, configList(r));
    raw.textContent = JSON.stringify(r.config, null, 2);
  };

  async function load(): Promise<void> {
    const r = await api.getRun(id, signal);
    if (signal.aborted) return;
    showError(err, null);
    render(r);
  }
  async function cancel(this: HTMLButtonElement): Promise<void> {
    this.disabled = true;
    try {
      await api.cancelRun(id);
      await load();
    } catch (e) {
      showError(err, e);
      this.disabled = false;
    }
  }
  async function download(this: HTMLButtonElement): Promise<void> {
    this.disabled = true;
    try {
      const { blob, filename } = await api.artifact(id);
      saveBlob(blob, filename);
    } catch (e) {
      showError(err, e);
    } finally {
      this.disabled = false;
    }
  }

  // Live updates: the SSE stream says when something changed and the document is fetched again (coalesced);
  // if the stream is unavailable, polling takes over. A slow poll stays on as a safety net either way.
  let pending: ReturnType<typeof setTimeout> | undefined;
  const soon = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      load().catch((e) => showError(err, e));
    }, 300);
  };
  let streaming = false;
  const live = async () => {
    while (!signal.aborted && run && !FINAL.has(run.status)) {
      try {
        streaming = true;
        await api.events(id, soon, signal);
      } catch {
        /* fall back to polling below */
      } finally {
        streaming = false;
      }
      soon();
      await new Promise((r) => setTimeout(r, 3000));
    }
  };
  load()
    .then(() => {
      void live();
      let ticks = 0;
      every(3000, async () => {
        ticks++;
        if (run && !FINAL.has(run.status) && (!streaming || ticks % 5 === 0)) await load();
      }, signal, (e) => showError(err, e));
    })
    .catch((e) => fill(err, errorBox(e)));
}
