import type { RunDocument, RunStatus } from '@quantlab/shared/schemas/run';
import type { Representation } from '@quantlab/shared/schemas/representation';
import { h } from './dom.ts';
import { seriesParts } from '@quantlab/shared/schemas/label';

export const DASH = '–';

/** 0.9123 -> "91.23%". */
export function pct(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || !Number.isFinite(x) ? DASH : `${(x * 100).toFixed(digits)}%`;
}

export function num(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return DASH;
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e6)) return x.toExponential(2);
  return Number(x.toFixed(digits)).toString();
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s)) return DASH;
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toISOString().slice(0, 10);
}

export function statusBadge(status: RunStatus | string): HTMLElement {
  return h('span', { class: `badge status-${status}`, 'data-status': status }, status);
}

/** A progress bar; the fraction is shown as a title for the exact value. */
export function progressBar(fraction: number, status: string, label?: string): HTMLElement {
  const f = Math.max(0, Math.min(1, fraction));
  return h(
    'div',
    { class: `progress status-${status}`, role: 'progressbar', 'aria-valuenow': Math.round(f * 100), 'aria-valuemin': 0, 'aria-valuemax': 100, title: label ?? `${Math.round(f * 100)}%` },
    h('div', { class: 'progress-fill', style: `width:${(f * 100).toFixed(1)}%` }),
    label ? h('span', { class: 'progress-label' }, label) : null,
  );
}

export function bitsLabel(r: Representation): string {
  return r.kind === 'float32' ? '32' : String(r.bits);
}

/** What a fixed-point range is: maxabs and mse are linear quantization, pow2 the paper's Q-format. */
const RANGE_NAMES: Record<string, string> = { maxabs: 'linear (max-abs)', mse: 'linear (MSE)', pow2: 'Q-format' };

/** A fixed series' range part (`maxabs`, `pow2:f6`, `mse:channel`) with the range named. */
function rangePart(part: string): string {
  const [range, ...tail] = part.split(':');
  return RANGE_NAMES[range] ? [RANGE_NAMES[range], ...tail].join(' ') : part;
}

/** The representation without bits, as a short readable phrase. */
export function reprLabel(r: Representation): string {
  switch (r.kind) {
    case 'float32':
      return 'float32';
    case 'fixed':
      return `fixed · ${RANGE_NAMES[r.range]}${r.fractionBits === undefined ? '' : ` f${r.fractionBits}`} · ${r.rounding}${r.granularity === 'channel' ? ' · per channel' : ''}`;
    case 'dictionary':
      return `dictionary · ${r.scope} · ${r.init}${r.refine ? ` · ${r.refine} Lloyd` : ''}${r.granularity === 'channel' ? ' · per channel' : ''}`;
  }
}

/** A series id (`fixed/maxabs/nearest/training`) as a legend label. */
export function seriesLabel(series: string): string {
  // Per-layer widths (`…/layer:conv1`, `…/bits:4.4.2`) follow the phase; layer names may hold slashes.
  const widths = /\/((?:layer|bits):.*)$/.exec(series);
  if (widths) return `${seriesLabel(series.slice(0, widths.index))} · ${widths[1]}`;
  const { family, phase: p, master } = seriesParts(series);
  const phase = master === 'compact' ? `${p}, compact only` : p;
  const [kind, ...rest] = family.split('/');
  if (kind === 'float32') return `float32 (${phase})`;
  const name = kind === 'fixed' ? 'Fixed point' : kind === 'dictionary' ? 'Dictionary' : kind;
  const details = rest.filter((p) => p !== 'r0' && p !== 'epoch').map((p) => (kind === 'fixed' ? rangePart(p) : p));
  return `${name} ${details.join(' ')} · ${phase}`;
}

export function runProgress(run: RunDocument): HTMLElement {
  const p = run.progress;
  const label = p.epochs ? `${p.epoch}/${p.epochs}` : undefined;
  return progressBar(run.status === 'completed' ? 1 : p.fraction, run.status, label);
}

/** Axis ticks: 8 KiB, 1.5 MiB (no trailing .0). */
export function bytesShort(n: number): string {
  const trim = (x: number) => String(Number(x.toFixed(1)));
  if (n < 1024) return `${trim(n)} B`;
  if (n < 1024 * 1024) return `${trim(n / 1024)} KiB`;
  return `${trim(n / 1024 / 1024)} MiB`;
}
