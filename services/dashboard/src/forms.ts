import type { Problem } from '@quantlab/shared/schemas/problem';
import { api, ApiError } from './api.ts';
import { fill, h, type Child } from './dom.ts';
import { MODEL_OPTIONS } from './options.ts';

type Issue = NonNullable<Problem['issues']>[number];

/** A labelled control with a slot for the API's message about it; `key` is the body path it fills, e.g. training.epochs. */
export function field(key: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = `f-${key.replace(/[^A-Za-z0-9]+/g, '-')}`;
  if (control.matches('input, select, textarea')) control.id = id;
  return h(
    'div',
    { class: 'field', 'data-field': key },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null,
    h('div', { class: 'field-error', role: 'alert' }),
  );
}

export function input(name: string, value: string | number, attrs: Record<string, string> = {}): HTMLInputElement {
  return h('input', { name, value: String(value), ...attrs });
}

export function selectOf(name: string, options: readonly string[], value: string): HTMLSelectElement {
  return h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, o)));
}

/**
 * The model select: the built-in networks first, then the uploaded models (GET /models) by name with their id. When
 * the list cannot be fetched the built-ins stay and the field's hint says why.
 */
export function modelSelect(value: string, signal: AbortSignal): HTMLSelectElement {
  const select = h('select', { name: 'model' }, h('optgroup', { label: 'Built-in' }, MODEL_OPTIONS.map((o) => h('option', { value: o, selected: o === value }, o))));
  api.models(signal).then(
    (models) => {
      if (models.length === 0) return;
      const options = models.map((m) => h('option', { value: m.id, title: `input ${m.inputShape.join('×')}, ${m.classes} classes, ${m.params} weights` }, `${m.name} (${m.id})`));
      select.append(h('optgroup', { label: 'Uploaded' }, options));
    },
    (e: unknown) => {
      if (signal.aborted) return;
      select.closest('.field')?.querySelector(':scope > .field-error')?.before(h('small', { class: 'hint' }, `uploaded models could not be listed: ${e instanceof Error ? e.message : String(e)}`));
    },
  );
  return select;
}

export function checkboxes(name: string, options: readonly string[], checked: readonly string[]): HTMLElement {
  return h(
    'div',
    { class: 'checks', role: 'group' },
    options.map((o) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name, value: o, checked: checked.includes(o) }), o)),
  );
}

export function checkedValues(root: ParentNode, name: string): string[] {
  return [...root.querySelectorAll<HTMLInputElement>(`input[name="${name}"]:checked`)].map((i) => i.value);
}

/** '' -> undefined; a number -> the number; anything else is sent as typed, so the API names the mistake. */
export function numberOf(el: HTMLInputElement): number | string | undefined {
  const v = el.value.trim();
  if (v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

/** "2, 4 8" -> [2, 4, 8]; tokens that are not numbers stay strings for the API to refuse. */
export function listOf(el: HTMLInputElement): (number | string)[] {
  return el.value
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map((t) => (Number.isFinite(Number(t)) ? Number(t) : t));
}

/** Drops undefined members, so omitted fields take the API's defaults. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Shows a failed submit: each zod issue next to the field whose key is the longest prefix of the issue's path
 * (after `mapPath`, for forms whose body layout differs from their fields); the rest in the form's alert.
 */
export function showProblem(form: HTMLElement, alert: HTMLElement, e: unknown, mapPath: (path: (string | number)[]) => (string | number)[] = (p) => p): void {
  clearProblem(form, alert);
  const fields = [...form.querySelectorAll<HTMLElement>('[data-field]')];
  const unmatched: Issue[] = [];
  const issues = e instanceof ApiError ? (e.problem?.issues ?? []) : [];
  for (const issue of issues) {
    const path = mapPath(issue.path).join('.');
    let best: HTMLElement | null = null;
    for (const f of fields) {
      const k = f.dataset.field!;
      if ((path === k || path.startsWith(`${k}.`)) && (!best || k.length > best.dataset.field!.length)) best = f;
    }
    if (!best) {
      unmatched.push(issue);
      continue;
    }
    best.classList.add('invalid');
    best.querySelector(':scope > input, :scope > select, :scope > textarea')?.setAttribute('aria-invalid', 'true');
    const slot = best.querySelector(':scope > .field-error')!;
    slot.append(h('div', null, issue.message));
  }
  const head: Child = e instanceof ApiError ? (e.problem ? `${e.problem.title}: ${e.problem.detail}` : e.message) : e instanceof Error ? e.message : String(e);
  const rest = unmatched.map((i) => h('li', null, i.path.length ? h('code', null, i.path.join('.')) : null, i.path.length ? ': ' : '', i.message));
  fill(alert, h('div', { class: 'alert alert-error', role: 'alert' }, h('div', null, head), rest.length ? h('ul', null, rest) : null));
  form.querySelector<HTMLElement>('.invalid input, .invalid select, .invalid textarea')?.focus();
}

export function clearProblem(form: HTMLElement, alert: HTMLElement): void {
  alert.replaceChildren();
  for (const f of form.querySelectorAll<HTMLElement>('.field.invalid')) {
    f.classList.remove('invalid');
    f.querySelector('[aria-invalid]')?.removeAttribute('aria-invalid');
    f.querySelector(':scope > .field-error')!.replaceChildren();
  }
}
