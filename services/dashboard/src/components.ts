import type { RunDocument } from '@quantlab/shared/schemas/run';
import { ApiError } from './api.ts';
import { h, type Child } from './dom.ts';
import { ago, bitsLabel, pct, reprLabel, runProgress, statusBadge } from './format.ts';

/** A message for a failed call, with what the user can do about it. */
export function errorBox(e: unknown): HTMLElement {
  let text = e instanceof Error ? e.message : String(e);
  if (e instanceof ApiError && e.status === 401) text = 'Unauthorized: this API needs a token (enter it at the top right).';
  return h('div', { class: 'alert alert-error', role: 'alert' }, text);
}

/** An area whose content a view replaces on each refresh, with an error line above it. */
export function section(title: string, ...extra: Child[]): { el: HTMLElement; body: HTMLElement; error: HTMLElement; actions: HTMLElement } {
  const actions = h('div', { class: 'section-actions' }, ...extra);
  const error = h('div', { class: 'section-error' });
  const body = h('div', { class: 'section-body' });
  const el = h('section', { class: 'card' }, h('div', { class: 'section-head' }, h('h2', null, title), actions), error, body);
  return { el, body, error, actions };
}

export function showError(target: HTMLElement, e: unknown | null): void {
  target.replaceChildren(...(e ? [errorBox(e)] : []));
}

export interface RunsTableOptions {
  selected?: Set<string>;
  onSelect?: () => void;
  /** Hide columns that are the same for every row (e.g. dataset on a sweep page). */
  compact?: boolean;
}

export function runsTable(runs: RunDocument[], opts: RunsTableOptions = {}): HTMLElement {
  if (runs.length === 0) return h('p', { class: 'empty' }, 'No runs yet.');
  const sel = opts.selected;
  const head = h(
    'tr',
    null,
    sel ? h('th', { class: 'col-check' }, '') : null,
    h('th', null, 'Run'),
    h('th', null, 'Status'),
    h('th', { class: 'col-progress' }, 'Progress'),
    h('th', null, 'Representation'),
    h('th', { class: 'num' }, 'Bits'),
    h('th', null, 'Phase'),
    opts.compact ? null : h('th', null, 'Dataset'),
    h('th', { class: 'num' }, 'Test acc.'),
    h('th', { class: 'num' }, 'Relative acc.'),
    opts.compact ? null : h('th', null, 'Created'),
  );
  const rows = runs.map((r) =>
    h(
      'tr',
      { 'data-run': r.id, class: [sel?.has(r.id) ? 'selected' : '', r.status === 'stopped' ? 'run-stopped' : ''].filter(Boolean).join(' ') || null },
      sel
        ? h(
            'td',
            { class: 'col-check' },
            h('input', {
              type: 'checkbox',
              'aria-label': `select ${r.name}`,
              checked: sel.has(r.id),
              onchange: (e: Event) => {
                const on = (e.target as HTMLInputElement).checked;
                if (on) sel.add(r.id);
                else sel.delete(r.id);
                (e.target as HTMLElement).closest('tr')?.classList.toggle('selected', on);
                opts.onSelect?.();
              },
            }),
          )
        : null,
      h('td', { class: 'col-run' }, h('a', { href: `#/runs/${encodeURIComponent(r.id)}`, class: 'run-link', title: r.id }, r.name)),
      h('td', null, statusBadge(r.status), r.stopped ? h('div', { class: 'sub', title: r.stopped.reason }, `after epoch ${r.stopped.epoch}`) : null),
      h('td', { class: 'col-progress' }, runProgress(r)),
      h('td', null, reprLabel(r.config.representation)),
      h('td', { class: 'num' }, bitsLabel(r.config.representation)),
      h('td', null, r.config.phase),
      opts.compact ? null : h('td', null, `${r.config.dataset} · ${r.config.model}`),
      h('td', { class: 'num', 'data-col': 'test-acc' }, pct(r.metrics.testAccuracy)),
      h('td', { class: 'num', 'data-col': 'rel-acc' }, pct(r.metrics.relativeAccuracy)),
      opts.compact ? null : h('td', { class: 'sub-cell', title: r.createdAt }, ago(r.createdAt)),
    ),
  );
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table runs-table' }, h('thead', null, head), h('tbody', null, rows)));
}

/** A key/value grid of headline numbers. */
export function stats(items: [label: string, value: Child, key?: string, note?: string][]): HTMLElement {
  return h(
    'div',
    { class: 'stats' },
    items.map(([label, value, key, note]) =>
      h('div', { class: 'stat', 'data-stat': key ?? null }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), note ? h('div', { class: 'stat-note' }, note) : null),
    ),
  );
}

export function pageHeader(title: Child, ...rest: Child[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'page-head-extra' }, ...rest));
}
