import { api } from '../api.ts';
import { fill, h } from '../dom.ts';
import type { ViewContext } from '../router.ts';
import { pageHeader } from '../components.ts';
import { clearProblem, compact, field, input, modelSelect, numberOf, selectOf, showProblem } from '../forms.ts';
import { DATASET_OPTIONS, DICT_INIT_OPTIONS, GRANULARITY_OPTIONS, KIND_OPTIONS, MASTER_OPTIONS, PHASE_OPTIONS, RANGE_OPTIONS, ROUNDING_OPTIONS, SCOPE_OPTIONS, UPDATE_OPTIONS } from '../options.ts';
import { MODEL_DEFAULT, REPRESENTATION_DEFAULTS as R, TRAINING_DEFAULTS } from '@quantlab/shared/schemas/defaults';

/** Start one run; the API validates, and its zod issues appear next to the fields they name. */
export function newRunView({ root, signal }: ViewContext): void {
  const el = {
    name: input('name', 'experiment'),
    dataset: selectOf('dataset', DATASET_OPTIONS, 'mnist'),
    model: modelSelect(MODEL_DEFAULT, signal),
    phase: selectOf('phase', PHASE_OPTIONS, 'training'),
    kind: selectOf('kind', KIND_OPTIONS, 'fixed'),
    bits: input('bits', 8, { type: 'number' }),
    range: selectOf('range', RANGE_OPTIONS, R.fixed.range),
    granularity: selectOf('granularity', GRANULARITY_OPTIONS, R.granularity),
    rounding: selectOf('rounding', ROUNDING_OPTIONS, R.fixed.rounding),
    scope: selectOf('scope', SCOPE_OPTIONS, R.dictionary.scope),
    init: selectOf('init', DICT_INIT_OPTIONS, R.dictionary.init),
    refine: input('refine', R.dictionary.refine, { type: 'number' }),
    update: selectOf('update', UPDATE_OPTIONS, R.dictionary.update),
    // The API's own defaults (TRAINING_DEFAULTS): a run started here trains as one submitted without options.
    epochs: input('epochs', TRAINING_DEFAULTS.epochs, { type: 'number' }),
    batchSize: input('batchSize', TRAINING_DEFAULTS.batchSize, { type: 'number' }),
    learningRate: input('learningRate', TRAINING_DEFAULTS.learningRate, { type: 'number', step: 'any' }),
    seed: input('seed', TRAINING_DEFAULTS.seed, { type: 'number' }),
    master: selectOf('master', MASTER_OPTIONS, TRAINING_DEFAULTS.master),
    trainLimit: input('trainLimit', '', { type: 'number', placeholder: 'all' }),
    testLimit: input('testLimit', '', { type: 'number', placeholder: 'all' }),
  };
  const fixedOnly = h(
    'div',
    { class: 'field-row' },
    field('representation.range', 'Range', el.range, 'maxabs / mse: linear quantization; pow2: the Q-format'),
    field('representation.rounding', 'Rounding', el.rounding),
  );
  const scaleField = field('representation.granularity', 'Scale per', el.granularity, 'layer, or each output channel');
  const dictOnly = h('div', { class: 'field-row' }, field('representation.scope', 'Scope', el.scope, 'global: one dictionary, a scale per layer'), field('representation.init', 'Entries', el.init), field('representation.refine', 'Lloyd iterations', el.refine), field('representation.update', 'Entries learn by', el.update, 'refit: k-means only; gradient: also SGD'));
  const bitsField = field('representation.bits', 'Bits per weight', el.bits, 'fixed 2–16, dictionary 1–10');
  const syncKind = () => {
    const k = el.kind.value;
    fixedOnly.hidden = k !== 'fixed';
    dictOnly.hidden = k !== 'dictionary';
    bitsField.hidden = k === 'float32';
    scaleField.hidden = k === 'float32';
  };
  el.kind.addEventListener('change', syncKind);
  syncKind();
  // User datasets (idx:, npz:, folder:) are whatever the live workers find under their DATA_DIR.
  api.workers().then(
    ({ items }) => {
      const extra = [...new Set(items.flatMap((w) => w.datasets))].filter((d) => d.includes(':')).sort();
      for (const d of extra) el.dataset.append(h('option', { value: d }, d));
    },
    () => {},
  );

  const alert = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start run');
  const form = h(
    'form',
    { class: 'card form', novalidate: true, id: 'run-form' },
    h('h2', null, 'Experiment'),
    h('div', { class: 'field-row' }, field('name', 'Name', el.name), field('dataset', 'Dataset', el.dataset), field('model', 'Model', el.model), field('phase', 'Phase', el.phase, 'inference: train float32, quantize once')),
    h('h2', null, 'Weight representation'),
    h('div', { class: 'field-row' }, field('representation.kind', 'Kind', el.kind), bitsField, scaleField),
    fixedOnly,
    dictOnly,
    h('h2', null, 'Training'),
    h(
      'div',
      { class: 'field-row' },
      field('training.epochs', 'Epochs', el.epochs),
      field('training.batchSize', 'Batch size', el.batchSize),
      field('training.learningRate', 'Learning rate', el.learningRate),
      field('training.seed', 'Seed', el.seed),
      field('training.master', 'Master weights', el.master, 'compact: no float32 copy, stochastic updates'),
      field('training.trainLimit', 'Training images', el.trainLimit, 'empty: the whole split'),
      field('training.testLimit', 'Test images', el.testLimit, 'empty: the whole split'),
    ),
    alert,
    h('div', { class: 'form-actions' }, submit),
  );

  const body = () => {
    const kind = el.kind.value;
    const representation =
      kind === 'fixed'
        ? { kind, bits: numberOf(el.bits), range: el.range.value, rounding: el.rounding.value, granularity: el.granularity.value }
        : kind === 'dictionary'
          ? { kind, bits: numberOf(el.bits), scope: el.scope.value, init: el.init.value, refine: numberOf(el.refine), update: el.update.value, granularity: el.granularity.value }
          : { kind };
    return {
      name: el.name.value,
      dataset: el.dataset.value,
      model: el.model.value,
      phase: el.phase.value,
      representation: compact(representation),
      training: compact({
        epochs: numberOf(el.epochs),
        batchSize: numberOf(el.batchSize),
        learningRate: numberOf(el.learningRate),
        seed: numberOf(el.seed),
        master: el.master.value,
        trainLimit: numberOf(el.trainLimit),
        testLimit: numberOf(el.testLimit),
      }),
    };
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblem(form, alert);
    submit.disabled = true;
    try {
      const res = await api.createRun(body());
      location.hash = `#/runs/${encodeURIComponent(res.id)}`;
    } catch (err) {
      showProblem(form, alert, err);
    } finally {
      submit.disabled = false;
    }
  });
  fill(root, pageHeader('New run'), form);
}
