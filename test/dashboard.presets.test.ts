// The New sweep page's preset form in Debian's chromium against the real API (no worker): every preset GET /presets
// lists can be chosen, its description and run count follow the choice, and what it submits is that preset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS } from '@quantlab/shared/schemas/choices';
import { openDashboard, watchErrors } from './helpers/browser.ts';

test('the preset form offers every preset, describes the chosen one with its run count, and starts it', { timeout: 90_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-presets');
  const listed = ((await (await fetch(`${stack.url}/presets`)).json()) as { items: { name: string; budget: string; runs: number }[] }).items;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchErrors(page);
  await page.goto(`${stack.url}/#/new/sweep?mode=preset`);
  const form = page.locator('#preset-form');
  assert.deepEqual(await form.locator('select[name=preset] option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), [...PRESETS]);

  const info = form.locator('.preset-info');
  const runsOf = (name: string, budget: string) => listed.find((p) => p.name === name && p.budget === budget)!.runs;
  await info.filter({ hasText: `${runsOf('paper', 'small')} runs` }).waitFor({ timeout: 10_000 });
  await form.locator('select[name=preset]').selectOption('sensitivity');
  await info.filter({ hasText: `${runsOf('sensitivity', 'small')} runs` }).waitFor({ timeout: 5_000 });
  assert.match((await info.textContent()) ?? '', /one layer at a time/);
  assert.equal(await form.locator('[name=name]').getAttribute('placeholder'), 'sensitivity-small');

  await form.locator('[name=dataset]').selectOption('mnist');
  await form.locator('[name=seeds]').fill('1');
  await form.locator('button[type=submit]').click();
  await page.waitForURL(/#\/sweeps\/[^/]+$/, { timeout: 10_000 });
  const sweepId = decodeURIComponent(new URL(page.url()).hash.slice('#/sweeps/'.length));
  const sweep = (await (await fetch(`${stack.url}/sweeps/${encodeURIComponent(sweepId)}`)).json()) as { preset: string; budget: string; runs: unknown[] };
  assert.deepEqual([sweep.preset, sweep.budget, sweep.runs.length], ['sensitivity', 'small', runsOf('sensitivity', 'small') / 3]);
  assert.deepEqual(errors, []);
});
