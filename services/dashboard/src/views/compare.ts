import type { RunDocument } from '@quantlab/shared/schemas/run';
import { api } from '../api.ts';
import { fill, h } from '../dom.ts';
import { bitsLabel, bytes, pct, reprLabel, statusBadge, num } from '../format.ts';
import type { ViewContext } from '../router.ts';
import { align, colorOf, lineChart } from '../charts.ts';
import { errorBox, pageHeader, runsTable } from '../components.ts';

const PICKER_SIZE = 100;

/** Overlays the learning curves of the runs named in `#/compare?ids=a,b`; the table below picks runs. */
export function compareView({ root, query, signal }: ViewContext): void {
  const ids = (query.get('ids') ?? '').split(',').filter(Boolean);
  const selected = new Set(ids);
  const err = h('div');
  const acc = lineChart({ xLabel: '', yLabel: '', x: [], lines: [] });
  const loss = lineChart({ xLabel: '', yLabel: '', x: [], lines: [] });
  acc.el.id = 'chart-compare-acc';
  signal.addEventListener('abort', () => {
    acc.destroy();
    loss.destroy();
  });
  const table = h('div');
  const picker = h('div');
  const apply = h('button', { type: 'button', class: 'primary', onclick: () => (location.hash = `#/compare?ids=${[...selected].map(encodeURIComponent).join(',')}`) }, 'Show selected');
  fill(
    root,
    pageHeader('Compare runs', h('span', { class: 'muted' }, ids.length ? `${ids.length} runs` : 'pick runs below')),
    err,
    ids.length
      ? [
          h('div', { class: 'grid-2' }, h('section', { class: 'card' }, h('h2', null, 'Test accuracy per epoch'), acc.el), h('section', { class: 'card' }, h('h2', null, 'Training loss per epoch'), loss.el)),
          h('section', { class: 'card' }, h('h2', null, 'Final numbers'), table),
        ]
      : null,
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', null, 'Pick runs'), h('div', { class: 'section-actions' }, apply)),
      // The picker shows the newest runs; older ones are a filter and a page away in the runs list, which selects too.
      h('p', { class: 'muted' }, `The ${PICKER_SIZE} newest runs. For older ones, filter and page in the `, h('a', { href: '#/' }, 'runs list'), ' and use “Compare selected”.'),
      picker,
    ),
  );

  const label = (r: RunDocument) => r.name;
  const show = (runs: RunDocument[]) => {
    const curves = (f: (e: RunDocument['epochs'][number]) => number) => align(runs.map((r) => r.epochs.map((e) => ({ x: e.epoch, y: f(e) }))));
    const a = curves((e) => e.testAccuracy * 100);
    acc.update({ xLabel: 'Epoch', yLabel: 'Test accuracy (%)', x: a.x, xIntegers: true, yFormat: (v) => v.toFixed(1), lines: runs.map((r, i) => ({ label: label(r), color: colorOf(i), y: a.ys[i] })) });
    const l = curves((e) => e.trainLoss);
    loss.update({ xLabel: 'Epoch', yLabel: 'Training loss', x: l.x, xIntegers: true, lines: runs.map((r, i) => ({ label: label(r), color: colorOf(i), y: l.ys[i] })) });
    fill(
      table,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table' },
          h('thead', null, h('tr', null, ['Run', 'Status', 'Representation', 'Bits', 'Phase', 'Epochs', 'Test acc.', 'Relative acc.', 'Loss', 'Size'].map((t, i) => h('th', { class: i >= 3 && i !== 4 ? 'num' : null }, t)))),
          h(
            'tbody',
            null,
            runs.map((r, i) =>
              h(
                'tr',
                null,
                h('td', null, h('span', { class: 'swatch', style: `background:${colorOf(i)}` }), h('a', { href: `#/runs/${encodeURIComponent(r.id)}` }, r.name)),
                h('td', null, statusBadge(r.status)),
                h('td', null, reprLabel(r.config.representation)),
                h('td', { class: 'num' }, bitsLabel(r.config.representation)),
                h('td', null, r.config.phase),
                h('td', { class: 'num' }, `${r.epochs.length}/${r.config.training.epochs}`),
                h('td', { class: 'num' }, pct(r.metrics.testAccuracy)),
                h('td', { class: 'num' }, pct(r.metrics.relativeAccuracy)),
                h('td', { class: 'num' }, num(r.metrics.trainLoss, 4)),
                h('td', { class: 'num' }, bytes(r.metrics.weightBytes?.compact)),
              ),
            ),
          ),
        ),
      ),
    );
  };

  if (ids.length) {
    Promise.allSettled(ids.map((id) => api.getRun(id, signal))).then((results) => {
      if (signal.aborted) return;
      const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const bad = results.flatMap((r, i) => (r.status === 'rejected' ? [`${ids[i]}: ${(r.reason as Error).message}`] : []));
      if (bad.length) fill(err, errorBox(new Error(`could not load ${bad.join('; ')}`)));
      show(ok);
    });
  }
  api
    .listRuns({ limit: PICKER_SIZE }, signal)
    .then((list) => {
      fill(picker, runsTable(list.items, { selected }));
    })
    .catch((e) => !signal.aborted && fill(picker, errorBox(e)));
}
