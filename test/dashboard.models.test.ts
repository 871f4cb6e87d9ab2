// The New run and New sweep forms with an uploaded model and training.master, in Debian's chromium against the real
// API (no worker: what the forms create stays queued and is read back from the API).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODELS } from '@quantlab/shared/schemas/choices';
import { initBackend } from '@quantlab/ml';
import { openDashboard, watchErrors } from './helpers/browser.ts';
import { residualModel, saveLayersModel } from './helpers/layers-model.ts';

interface RunDoc {
  id: string;
  config: { model: string; dataset: string; training: { master: string }; representation: { kind: string; rounding?: string } };
}

test('both forms offer an uploaded model after the built-ins and the training master; what they submit reaches the config, and the API refusals show in the form', { timeout: 120_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-models');
  const api = (path: string, init?: RequestInit) => fetch(`${stack.url}${path}`, init);
  const runs = async (query = '') => ((await (await api(`/experiments${query}`)).json()) as { items: RunDoc[] }).items;

  // A small TF.js Layers model (28×28×1 in, 10 classes out: it fits mnist, not cifar10), uploaded as a user would.
  await initBackend('wasm');
  const source = residualModel(3);
  const saved = await saveLayersModel(source);
  source.dispose();
  const uploaded = await api('/models', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'tiny-residual', modelJson: saved.modelJson, weights: Buffer.from(saved.weights).toString('base64') }),
  });
  assert.equal(uploaded.status, 201);
  const model = ((await uploaded.json()) as { id: string }).id;

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchErrors(page);
  await page.goto(`${stack.url}/#/new/run`);
  const form = page.locator('#run-form');
  const select = form.locator('select[name=model]');
  await select.locator(`option[value="${model}"]`).waitFor({ state: 'attached', timeout: 10_000 });
  const options = await select.locator('option').evaluateAll((os) => os.map((o) => ({ value: (o as HTMLOptionElement).value, text: o.textContent })));
  assert.deepEqual(
    options.map((o) => o.value),
    [...MODELS, model],
    'the built-ins first, then the uploaded model',
  );
  assert.equal(options.at(-1)!.text, `tiny-residual (${model})`);
  assert.deepEqual(await form.locator('select[name=master] option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), ['float32', 'compact']);
  assert.equal(await form.locator('select[name=master]').inputValue(), 'float32', "the API's default");

  const errorOf = (root: typeof form, key: string) => root.locator(`[data-field="${key}"] > .field-error`);
  const submitAndWaitFor = async (root: typeof form, key: string) => {
    await root.locator('button[type=submit]').click();
    await errorOf(root, key).filter({ hasText: /\S/ }).waitFor({ timeout: 10_000 });
    return (await errorOf(root, key).textContent()) ?? '';
  };

  // Refused by the schema: a compact master with a learned dictionary (400, the issue at training.master).
  await form.locator('[name=name]').fill('compact-master-upload');
  await select.selectOption(model);
  await form.locator('[name=kind]').selectOption('dictionary');
  await form.locator('[name=bits]').fill('2');
  await form.locator('[name=update]').selectOption('gradient');
  await form.locator('[name=master]').selectOption('compact');
  await form.locator('[name=epochs]').fill('1');
  await form.locator('[name=trainLimit]').fill('100');
  assert.match(await submitAndWaitFor(form, 'training.master'), /master "compact" does not combine with a learned dictionary \(update "gradient"\)/);
  assert.equal(await form.locator('[data-field="training.master"] select').getAttribute('aria-invalid'), 'true');
  // Refused at submission: the model does not fit the dataset (422, the issue at model, the detail in the alert).
  await form.locator('[name=update]').selectOption('refit');
  await form.locator('[name=dataset]').selectOption('cifar10');
  assert.match(await submitAndWaitFor(form, 'model'), /input shape does not match the dataset/);
  assert.equal(await errorOf(form, 'training.master').textContent(), '', 'the earlier issue is cleared');
  assert.match((await form.locator('.alert-error').textContent()) ?? '', new RegExp(`model ${model} takes inputs of shape \\[28, 28, 1\\]; dataset cifar10`));
  assert.deepEqual(await runs(), [], 'nothing was queued');

  // Accepted: stochastic fixed point at 4 bits on mnist, compact master.
  await form.locator('[name=dataset]').selectOption('mnist');
  await form.locator('[name=kind]').selectOption('fixed');
  await form.locator('[name=bits]').fill('4');
  await form.locator('[name=rounding]').selectOption('stochastic');
  await form.locator('button[type=submit]').click();
  await page.waitForURL(/#\/runs\/[^/]+$/, { timeout: 10_000 });
  const runId = decodeURIComponent(new URL(page.url()).hash.slice('#/runs/'.length));
  const run = (await (await api(`/experiments/${runId}`)).json()) as RunDoc;
  assert.equal(run.config.model, model);
  assert.equal(run.config.training.master, 'compact');
  assert.deepEqual([run.config.dataset, run.config.representation.kind, run.config.representation.rounding], ['mnist', 'fixed', 'stochastic']);

  // The sweep grid: the same model list, the master as a varied field.
  await page.goto(`${stack.url}/#/new/sweep`);
  const sweepForm = page.locator('#sweep-form');
  const sweepSelect = sweepForm.locator('select[name=model]');
  await sweepSelect.locator(`option[value="${model}"]`).waitFor({ state: 'attached', timeout: 10_000 });
  assert.deepEqual(await sweepSelect.locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), [...MODELS, model]);
  await sweepForm.locator('[name=name]').fill('uploaded-sweep');
  await sweepSelect.selectOption(model);
  await sweepForm.locator('[name=epochs]').fill('1');
  await sweepForm.locator('[name=trainLimit]').fill('100');
  await sweepForm.locator('[name=fixedBits]').fill('4');
  await sweepForm.locator('input[name=fixedRounding][value=stochastic]').check();
  await sweepForm.locator('[name=dictBits]').fill('2');
  // No master at all: the API refuses an empty list, at the masters' field.
  await sweepForm.locator('input[name=master][value=float32]').uncheck();
  assert.match(await submitAndWaitFor(sweepForm, 'vary.training.master'), /\S/);
  // Both masters: fixed 4 bit nearest and stochastic and dictionary 2 bit with float32 masters, compact for the
  // stochastic fixed point and the dictionary, and the baseline.
  await sweepForm.locator('input[name=master][value=float32]').check();
  await sweepForm.locator('input[name=master][value=compact]').check();
  assert.equal(await sweepForm.locator('#sweep-count').textContent(), 'about 6 runs, float32 baselines included');
  await sweepForm.locator('button[type=submit]').click();
  await page.waitForURL(/#\/sweeps\/[^/]+$/, { timeout: 10_000 });
  const sweepId = decodeURIComponent(new URL(page.url()).hash.slice('#/sweeps/'.length));
  const sweepRuns = await runs(`?sweep=${encodeURIComponent(sweepId)}&limit=100`);
  assert.equal(sweepRuns.length, 6);
  assert.ok(sweepRuns.every((r) => r.config.model === model));
  const compact = sweepRuns.filter((r) => r.config.training.master === 'compact').map((r) => `${r.config.representation.kind}/${r.config.representation.rounding ?? ''}`);
  assert.deepEqual(compact.sort(), ['dictionary/', 'fixed/stochastic']);

  // Chromium logs each refused submit as a console error; anything else is a bug.
  assert.deepEqual(
    errors.filter((e) => !/status of (400|422)/.test(e)),
    [],
  );
});
