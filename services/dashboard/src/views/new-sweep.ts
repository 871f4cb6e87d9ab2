import type { PresetInfo } from '@quantlab/shared/schemas/sweep';
import { api } from '../api.ts';
import { fill, h } from '../dom.ts';
import type { ViewContext } from '../router.ts';
import { errorBox, pageHeader } from '../components.ts';
import { checkboxes, checkedValues, clearProblem, compact, field, input, listOf, modelSelect, numberOf, selectOf, showProblem } from '../forms.ts';
import { BUDGET_OPTIONS, DATASET_OPTIONS, DICT_INIT_OPTIONS, GRANULARITY_OPTIONS, MASTER_OPTIONS, PHASE_OPTIONS, PRESET_OPTIONS, RANGE_OPTIONS, ROUNDING_OPTIONS, SCOPE_OPTIONS } from '../options.ts';
import { TRAINING_DEFAULTS } from '@quantlab/shared/schemas/defaults';

/** The grid form: a base config and what varies; each representation family becomes one `vary.representation` entry. */
function gridForm(signal: AbortSignal): HTMLFormElement {
  const el = {
    name: input('name', 'sweep'),
    dataset: selectOf('dataset', DATASET_OPTIONS, 'mnist'),
    model: modelSelect('mlp', signal),
    epochs: input('epochs', 2, { type: 'number' }),
    batchSize: input('batchSize', 100, { type: 'number' }),
    learningRate: input('learningRate', 0.01, { type: 'number', step: 'any' }),
    trainLimit: input('trainLimit', 2000, { type: 'number', placeholder: 'all' }),
    testLimit: input('testLimit', 1000, { type: 'number', placeholder: 'all' }),
    fixedOn: h('input', { type: 'checkbox', name: 'fixedOn', checked: true }),
    fixedBits: input('fixedBits', '2, 4, 8', { inputmode: 'numeric' }),
    dictOn: h('input', { type: 'checkbox', name: 'dictOn', checked: true }),
    dictBits: input('dictBits', '1, 2, 4', { inputmode: 'numeric' }),
    seeds: input('seeds', '1', { inputmode: 'numeric' }),
    stopping: selectOf('stopping', ['none', 'median', 'asha'], 'none'),
    stoppingFrom: input('stoppingFrom', 1, { type: 'number' }),
  };
  (el.stopping.options[1] as HTMLOptionElement).textContent = 'median rule';
  (el.stopping.options[2] as HTMLOptionElement).textContent = 'successive halving (ASHA)';
  const fixedSet = h(
    'fieldset',
    { class: 'family', 'data-field': 'fixed' },
    h('legend', null, h('label', { class: 'check' }, el.fixedOn, 'Fixed point')),
    h(
      'div',
      { class: 'field-row' },
      field('fixed.bits', 'Bits (list)', el.fixedBits, '2–16, e.g. 2, 4, 8'),
      field('fixed.rounding', 'Rounding', checkboxes('fixedRounding', ROUNDING_OPTIONS, ['nearest'])),
      field('fixed.range', 'Range', checkboxes('fixedRange', RANGE_OPTIONS, ['pow2'])),
      field('fixed.granularity', 'Scale per', checkboxes('fixedGranularity', GRANULARITY_OPTIONS, ['layer'])),
    ),
    h('div', { class: 'field-error' }),
  );
  const dictSet = h(
    'fieldset',
    { class: 'family', 'data-field': 'dictionary' },
    h('legend', null, h('label', { class: 'check' }, el.dictOn, 'Dictionary')),
    h(
      'div',
      { class: 'field-row' },
      field('dictionary.bits', 'Bits (list)', el.dictBits, '1–10: 2^bits entries'),
      field('dictionary.init', 'Entries', checkboxes('dictInit', DICT_INIT_OPTIONS, ['uniform'])),
      field('dictionary.scope', 'Scope', checkboxes('dictScope', SCOPE_OPTIONS, ['global'])),
    ),
    h('div', { class: 'field-error' }),
  );
  const count = h('span', { class: 'muted', id: 'sweep-count' });
  const alert = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start sweep');
  const form = h(
    'form',
    { class: 'card form', novalidate: true, id: 'sweep-form' },
    h('h2', null, 'Base experiment'),
    h(
      'div',
      { class: 'field-row' },
      field('name', 'Sweep name', el.name),
      field('base.dataset', 'Dataset', el.dataset),
      field('base.model', 'Model', el.model),
      field('base.training.epochs', 'Epochs', el.epochs),
      field('base.training.batchSize', 'Batch size', el.batchSize),
      field('base.training.learningRate', 'Learning rate', el.learningRate),
      field('base.training.trainLimit', 'Training images', el.trainLimit, 'empty: the whole split'),
      field('base.training.testLimit', 'Test images', el.testLimit, 'empty: the whole split'),
    ),
    h('h2', null, 'What varies'),
    h('p', { class: 'hint' }, 'Every combination below runs once per phase and seed; a float32 baseline per seed is added.'),
    fixedSet,
    dictSet,
    h(
      'div',
      { class: 'field-row' },
      field('vary.phase', 'Phases', checkboxes('phase', PHASE_OPTIONS, ['training'])),
      field('vary.training.master', 'Master weights', checkboxes('master', MASTER_OPTIONS, [TRAINING_DEFAULTS.master]), 'compact runs where it applies: training phase, stochastic fixed point, dictionaries'),
      field('vary.seeds', 'Seeds (list)', el.seeds),
    ),
    h(
      'div',
      { class: 'field-row' },
      field('stopping', 'Early stopping', el.stopping, 'stops training-phase runs that fall behind the others (never the baselines)'),
      field('stopping.from', 'From epoch', el.stoppingFrom, 'median: no decision before it; ASHA: the first rung'),
    ),
    alert,
    h('div', { class: 'form-actions' }, submit, count),
  );

  // The API's default master alone is left out of the request (as before there was a choice); none is sent, to be refused.
  const masterVary = () => {
    const masters = checkedValues(form, 'master');
    return masters.length === 1 && masters[0] === TRAINING_DEFAULTS.master ? {} : { 'training.master': masters };
  };
  // Which vary.representation index came from which family, to put the API's issues next to the right inputs.
  let entryFamilies: string[] = [];
  const body = () => {
    const representation: Record<string, unknown>[] = [];
    entryFamilies = [];
    if (el.fixedOn.checked) {
      representation.push({ kind: 'fixed', bits: listOf(el.fixedBits), rounding: checkedValues(form, 'fixedRounding'), range: checkedValues(form, 'fixedRange'), granularity: checkedValues(form, 'fixedGranularity') });
      entryFamilies.push('fixed');
    }
    if (el.dictOn.checked) {
      representation.push({ kind: 'dictionary', bits: listOf(el.dictBits), init: checkedValues(form, 'dictInit'), scope: checkedValues(form, 'dictScope') });
      entryFamilies.push('dictionary');
    }
    return {
      name: el.name.value,
      base: {
        name: el.name.value,
        dataset: el.dataset.value,
        model: el.model.value,
        training: compact({
          epochs: numberOf(el.epochs),
          batchSize: numberOf(el.batchSize),
          learningRate: numberOf(el.learningRate),
          trainLimit: numberOf(el.trainLimit),
          testLimit: numberOf(el.testLimit),
        }),
      },
      vary: { representation, phase: checkedValues(form, 'phase'), seeds: listOf(el.seeds), ...masterVary() },
      ...(el.stopping.value === 'median'
        ? { stopping: { kind: 'median', warmup: numberOf(el.stoppingFrom) } }
        : el.stopping.value === 'asha'
          ? { stopping: { kind: 'asha', minEpochs: numberOf(el.stoppingFrom) } }
          : {}),
    };
  };
  const mapPath = (p: (string | number)[]) => {
    if (p[0] === 'stopping' && (p[1] === 'warmup' || p[1] === 'minEpochs')) return ['stopping', 'from'];
    return p[0] === 'vary' && p[1] === 'representation' && typeof p[2] === 'number' && entryFamilies[p[2]] ? [entryFamilies[p[2]], ...p.slice(3)] : p;
  };
  const updateCount = () => {
    const b = body();
    const n = (xs: unknown) => (Array.isArray(xs) ? xs.length : 1);
    const phases = b.vary.phase.length || 1;
    const reps = b.vary.representation.reduce((s, r) => s + n(r.bits) * (r.kind === 'fixed' ? n(r.rounding) * n(r.range) * n(r.granularity) : n(r.init) * n(r.scope)), 0);
    // A compact master adds a run for each training-phase representation it applies to (stochastic fixed point, dictionaries).
    const compactReps = b.vary.representation.reduce((s, r) => s + n(r.bits) * (r.kind === 'fixed' ? (checkedValues(form, 'fixedRounding').includes('stochastic') ? 1 : 0) * n(r.range) * n(r.granularity) : n(r.init) * n(r.scope)), 0);
    const masters = checkedValues(form, 'master');
    const perSeed = (masters.includes('float32') ? reps * phases : 0) + (masters.includes('compact') && b.vary.phase.includes('training') ? compactReps : 0);
    const seeds = b.vary.seeds.length || 1;
    count.textContent = `about ${perSeed * seeds + seeds} runs, float32 baselines included`;
  };
  form.addEventListener('input', updateCount);
  updateCount();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblem(form, alert);
    submit.disabled = true;
    try {
      const res = await api.createSweep(body());
      location.hash = `#/sweeps/${encodeURIComponent(res.id)}`;
    } catch (err) {
      showProblem(form, alert, err, mapPath);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** The preset form: a named grid (the paper's study, per-layer sensitivity) at a budget, with a few overrides. */
function presetForm(signal: AbortSignal): HTMLFormElement {
  const el = {
    name: input('name', '', { placeholder: 'paper-small' }),
    preset: selectOf('preset', PRESET_OPTIONS, 'paper'),
    budget: selectOf('budget', [...BUDGET_OPTIONS].reverse(), 'small'),
    dataset: selectOf('dataset', ['', ...DATASET_OPTIONS], ''),
    epochs: input('epochs', '', { type: 'number', placeholder: 'preset' }),
    seeds: input('seeds', '', { placeholder: 'preset' }),
  };
  (el.dataset.options[0] as HTMLOptionElement).textContent = 'preset default';
  const info = h('div', { class: 'preset-info' });
  const alert = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start preset sweep');
  const form = h(
    'form',
    { class: 'card form', novalidate: true, id: 'preset-form' },
    h('h2', null, 'A preset grid'),
    info,
    h(
      'div',
      { class: 'field-row' },
      field('name', 'Sweep name', el.name),
      field('preset', 'Preset', el.preset),
      field('budget', 'Budget', el.budget),
      field('base.dataset', 'Dataset', el.dataset),
      field('base.training.epochs', 'Epochs', el.epochs),
      field('seeds', 'Seeds (list)', el.seeds),
    ),
    alert,
    h('div', { class: 'form-actions' }, submit),
  );
  let presets: PresetInfo[] = [];
  const showInfo = () => {
    const p = presets.find((x) => x.name === el.preset.value && x.budget === el.budget.value);
    el.name.placeholder = `${el.preset.value}-${el.budget.value}`;
    fill(info, p ? [h('p', null, p.description), h('p', { class: 'hint' }, `${p.runs} runs on ${p.base.dataset} by default · ${p.epochBudget}`)] : null);
  };
  el.preset.addEventListener('change', showInfo);
  el.budget.addEventListener('change', showInfo);
  api
    .presets(signal)
    .then((r) => {
      presets = r.items;
      showInfo();
    })
    .catch((e) => !signal.aborted && fill(info, errorBox(e)));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblem(form, alert);
    submit.disabled = true;
    const seeds = listOf(el.seeds);
    try {
      const res = await api.createSweep(
        compact({
          preset: el.preset.value,
          name: el.name.value.trim() || undefined,
          budget: el.budget.value,
          base: compact({ dataset: el.dataset.value || undefined, training: numberOf(el.epochs) === undefined ? undefined : { epochs: numberOf(el.epochs) } }),
          seeds: seeds.length ? seeds : undefined,
        }),
      );
      location.hash = `#/sweeps/${encodeURIComponent(res.id)}`;
    } catch (err) {
      showProblem(form, alert, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function newSweepView({ root, query, signal }: ViewContext): void {
  const grid = gridForm(signal);
  const preset = presetForm(signal);
  const mode = query.get('mode') === 'preset' ? 'preset' : 'grid';
  grid.hidden = mode !== 'grid';
  preset.hidden = mode !== 'preset';
  const tab = (m: string, label: string) => h('a', { class: `tab${m === mode ? ' active' : ''}`, href: `#/new/sweep?mode=${m}` }, label);
  fill(root, pageHeader('New sweep', h('nav', { class: 'tabs' }, tab('grid', 'Custom grid'), tab('preset', 'Preset'))), grid, preset);
}
