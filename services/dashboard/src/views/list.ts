import type { RunList } from '@quantlab/shared/schemas/run';
import type { SweepList } from '@quantlab/shared/schemas/sweep';
import { api, type RunFilters } from '../api.ts';
import { fill, h } from '../dom.ts';
import { ago, progressBar, statusBadge } from '../format.ts';
import { every, type ViewContext } from '../router.ts';
import { pageHeader, runsTable, section, showError } from '../components.ts';
import { DATASET_OPTIONS, KIND_OPTIONS, STATUS_OPTIONS } from '../options.ts';

const POLL_MS = 3000;
const PAGE = 50;
const SWEEP_PAGE = 10;

// Kept across visits so going back to the list keeps the user's filters and selection.
const filters: RunFilters = {};
const selected = new Set<string>();

function sweepsTable(list: SweepList): HTMLElement {
  if (list.items.length === 0) return h('p', { class: 'empty' }, 'No sweeps yet. ', h('a', { href: '#/new/sweep' }, 'Start one.'));
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table sweeps-table' },
      h('thead', null, h('tr', null, h('th', null, 'Sweep'), h('th', null, 'Status'), h('th', { class: 'col-progress' }, 'Progress'), h('th', null, 'Runs'), h('th', null, 'Preset'), h('th', null, 'Created'))),
      h(
        'tbody',
        null,
        list.items.map((s) => {
          const c = s.counts;
          const total = s.runIds.length || 1;
          const done = c.completed + c.failed + c.cancelled;
          const parts = (['completed', 'running', 'queued', 'stopped', 'failed', 'cancelled'] as const).filter((k) => c[k] > 0).map((k) => h('span', { class: `count status-text-${k}` }, `${c[k]} ${k}`));
          return h(
            'tr',
            { 'data-sweep': s.id },
            h('td', null, h('a', { href: `#/sweeps/${encodeURIComponent(s.id)}` }, s.name), h('div', { class: 'sub' }, s.id)),
            h('td', null, statusBadge(s.status)),
            h('td', { class: 'col-progress' }, progressBar(done / total, s.status, `${done}/${s.runIds.length}`)),
            h('td', { class: 'counts' }, parts),
            h('td', null, s.preset ? `${s.preset} (${s.budget})` : '–'),
            h('td', { class: 'sub-cell', title: s.createdAt }, ago(s.createdAt)),
          );
        }),
      ),
    ),
  );
}

function select(label: string, key: keyof RunFilters, options: readonly string[], onChange: () => void): HTMLElement {
  return h(
    'label',
    { class: 'filter' },
    label,
    h(
      'select',
      {
        name: key,
        onchange: (e: Event) => {
          const v = (e.target as HTMLSelectElement).value;
          (filters as Record<string, unknown>)[key] = v || undefined;
          onChange();
        },
      },
      h('option', { value: '' }, 'all'),
      options.map((o) => h('option', { value: o, selected: filters[key] === o }, o)),
    ),
  );
}

export function listView({ root, signal }: ViewContext): void {
  // Cursor of each page shown so far: [undefined] is the newest page; Older pushes, Newer pops.
  let cursors: (string | undefined)[] = [undefined];
  let next: string | null = null;

  const compareBtn = h('a', { class: 'button', href: '#/compare' }, 'Compare selected');
  const updateCompare = () => {
    compareBtn.textContent = `Compare selected (${selected.size})`;
    compareBtn.setAttribute('href', `#/compare?ids=${[...selected].map(encodeURIComponent).join(',')}`);
    compareBtn.classList.toggle('disabled', selected.size === 0);
  };
  updateCompare();

  const sweeps = section('Sweeps', h('a', { class: 'button primary', href: '#/new/sweep' }, 'New sweep'));
  // The sweeps list pages like the runs list, 10 at a time.
  const sweepCursors: (string | undefined)[] = [undefined];
  let sweepNext: string | null = null;
  const sweepNewer = h('button', { type: 'button', onclick: () => sweepPage(-1) }, '← Newer');
  const sweepOlder = h('button', { type: 'button', onclick: () => sweepPage(1) }, 'Older →');
  const sweepPager = h('div', { class: 'pager' }, sweepNewer, sweepOlder);
  sweeps.el.append(sweepPager);
  async function loadSweeps(): Promise<void> {
    const list = await api.listSweeps({ limit: SWEEP_PAGE, cursor: sweepCursors[sweepCursors.length - 1] }, signal);
    if (signal.aborted) return;
    sweepNext = list.nextCursor;
    showError(sweeps.error, null);
    fill(sweeps.body, sweepsTable(list));
    sweepNewer.toggleAttribute('disabled', sweepCursors.length <= 1);
    sweepOlder.toggleAttribute('disabled', !sweepNext);
    sweepPager.hidden = sweepCursors.length <= 1 && !sweepNext;
  }
  function sweepPage(dir: 1 | -1): void {
    if (dir === 1 && sweepNext) sweepCursors.push(sweepNext);
    if (dir === -1 && sweepCursors.length > 1) sweepCursors.pop();
    loadSweeps().catch((e) => showError(sweeps.error, e));
  }
  const newer = h('button', { type: 'button', onclick: () => page(-1) }, '← Newer');
  const older = h('button', { type: 'button', onclick: () => page(1) }, 'Older →');
  const pageInfo = h('span', { class: 'muted page-info' });
  const refresh = () => {
    cursors = [undefined];
    loadRuns().catch((e) => showError(runs.error, e));
  };
  const runs = section(
    'Runs',
    select('Status', 'status', STATUS_OPTIONS, refresh),
    select('Kind', 'kind', KIND_OPTIONS, refresh),
    select('Dataset', 'dataset', DATASET_OPTIONS, refresh),
    compareBtn,
    h('a', { class: 'button primary', href: '#/new/run' }, 'New run'),
  );
  const pager = h('div', { class: 'pager' }, newer, pageInfo, older);
  runs.el.append(pager);
  fill(root, pageHeader('Runs & sweeps', h('span', { class: 'muted live-dot', title: `refreshes every ${POLL_MS / 1000} s` }, 'live')), sweeps.el, runs.el);

  let lastRuns: RunList | null = null;
  async function loadRuns(): Promise<void> {
    const list = await api.listRuns({ ...filters, cursor: cursors[cursors.length - 1], limit: PAGE }, signal);
    if (signal.aborted) return;
    lastRuns = list;
    next = list.nextCursor;
    showError(runs.error, null);
    fill(runs.body, runsTable(list.items, { selected, onSelect: updateCompare }));
    newer.toggleAttribute('disabled', cursors.length <= 1);
    older.toggleAttribute('disabled', !next);
    pageInfo.textContent = `page ${cursors.length} · ${list.items.length} runs`;
  }
  function page(dir: 1 | -1): void {
    if (dir === 1 && next) cursors.push(next);
    if (dir === -1 && cursors.length > 1) cursors.pop();
    loadRuns().catch((e) => showError(runs.error, e));
  }

  every(POLL_MS, async () => {
    const [s, r] = await Promise.allSettled([loadSweeps(), loadRuns()]);
    if (signal.aborted) return;
    if (s.status === 'rejected') showError(sweeps.error, s.reason);
    if (r.status === 'rejected') {
      showError(runs.error, r.reason);
      if (!lastRuns) runs.body.replaceChildren();
    }
  }, signal, () => {});
}
