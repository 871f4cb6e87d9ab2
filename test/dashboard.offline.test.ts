import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDashboard, watchErrors } from './helpers/browser.ts';

// The dashboard must work with no network beyond the API: no CDN scripts, no web fonts, no analytics.
test('with other hosts blocked every view renders, the run form shows the API issue at its field, cancel works, and no request leaves the API', { timeout: 60_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-offline');
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = watchErrors(page);
  const origin = new URL(stack.url).origin;
  const blocked: string[] = [];
  const seen: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    seen.push(url);
    if (url.startsWith('data:') || new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });

  // A queued run (no worker here) gives the list, the run page and compare something to show.
  const res = await fetch(`${stack.url}/experiments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'offline-check', dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 4 }, training: { epochs: 1, trainLimit: 100 } }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };

  await page.goto(`${stack.url}/`);
  await page.locator(`.runs-table tr[data-run="${id}"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(`tr[data-run="${id}"] .badge`).textContent(), 'queued');
  // The stylesheet came from the API and applied (status colours are CSS, not inline).
  const badgeColour = await page.locator(`tr[data-run="${id}"] .badge`).evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(badgeColour, 'rgba(0, 0, 0, 0)');

  const streamed = page.waitForResponse((r) => r.url().endsWith(`/experiments/${id}/events`));
  await page.goto(`${stack.url}/#/runs/${id}`);
  await page.locator('.page-head h1').filter({ hasText: 'offline-check' }).waitFor();
  // The live stream is open before the page moves on (leaving closes it).
  assert.equal((await streamed).status(), 200);
  assert.equal(await page.locator('.chart canvas').count(), 2, 'both learning-curve charts drew (uPlot is bundled)');
  assert.equal(await page.locator('#cancel').count(), 1, 'a queued run can be cancelled');

  await page.goto(`${stack.url}/#/compare?ids=${id}`);
  await page.locator('#chart-compare-acc canvas').waitFor();
  await page.goto(`${stack.url}/#/new/sweep`);
  await page.locator('#sweep-form').waitFor();
  // The run form: the API's zod issue lands next to the field its path names, and nothing is queued.
  await page.goto(`${stack.url}/#/new/run`);
  const form = page.locator('#run-form');
  // Only the chosen kind's options show.
  assert.equal(await form.locator('[data-field="representation.scope"]').isHidden(), true);
  await form.locator('[name=kind]').selectOption('dictionary');
  assert.equal(await form.locator('[data-field="representation.scope"]').isVisible(), true);
  assert.equal(await form.locator('[data-field="representation.rounding"]').isHidden(), true);
  await form.locator('[name=kind]').selectOption('fixed');
  await form.locator('[name=bits]').fill('40');
  await form.locator('button[type=submit]').click();
  const bitsError = form.locator('[data-field="representation.bits"] > .field-error');
  await bitsError.filter({ hasText: /\S/ }).waitFor({ timeout: 10_000 });
  assert.match((await bitsError.textContent()) ?? '', /bits/);
  assert.equal(((await (await fetch(`${stack.url}/experiments`)).json()) as { items: unknown[] }).items.length, 1);

  // Cancel from the run page: a queued run never starts.
  await page.goto(`${stack.url}/#/runs/${id}`);
  await page.locator('#cancel').click();
  await page.locator('.page-head .badge[data-status="cancelled"]').waitFor({ timeout: 10_000 });
  assert.equal(((await (await fetch(`${stack.url}/experiments/${id}`)).json()) as { status: string }).status, 'cancelled');

  assert.deepEqual(blocked, [], 'no request left the API');
  assert.ok(seen.some((u) => u.endsWith('/build/app.js')) && seen.some((u) => u.endsWith('/build/styles.css')));
  // Chromium logs the refused submit above as a console error; anything else is a bug.
  assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), []);
});
