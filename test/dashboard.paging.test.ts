import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDashboard, watchErrors } from './helpers/browser.ts';

// Hundreds of runs stay fast because the list shows one page of the API's cursor pagination at a time.
test('the runs list pages through the API cursor (50 a page), filters, and picks up new runs without a reload', { timeout: 60_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-paging');
  const post = async (name: string, kind: 'fixed' | 'dictionary') => {
    const representation = kind === 'fixed' ? { kind, bits: 4 } : { kind, bits: 2 };
    const res = await fetch(`${stack.url}/experiments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, dataset: 'mnist', model: 'mlp', representation, training: { epochs: 1, trainLimit: 100 } }),
    });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  };
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) ids.push(await post(`bulk-${i}`, i % 4 === 0 ? 'dictionary' : 'fixed'));

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchErrors(page);
  await page.goto(`${stack.url}/`);
  const rows = page.locator('.runs-table tbody tr');
  const runsCard = page.locator('section.card').filter({ has: page.locator('h2', { hasText: /^Runs$/ }) });
  await rows.first().waitFor();
  assert.equal(await rows.count(), 50);
  assert.equal(await rows.first().getAttribute('data-run'), ids[59], 'newest first');
  await runsCard.getByRole('button', { name: 'Older →' }).click();
  await page.locator(`.runs-table tr[data-run="${ids[0]}"]`).waitFor();
  assert.equal(await rows.count(), 10);
  assert.equal(await runsCard.getByRole('button', { name: 'Older →' }).isDisabled(), true, 'no page after the last');
  await runsCard.getByRole('button', { name: '← Newer' }).click();
  await page.locator(`.runs-table tr[data-run="${ids[59]}"]`).waitFor();

  await page.locator('select[name=kind]').selectOption('dictionary');
  await page.locator(`.runs-table tr[data-run="${ids[59]}"]`).waitFor({ state: 'detached' });
  assert.equal(await rows.count(), 15);

  // A run created elsewhere appears within a polling interval, with no reload.
  const late = await post('late-arrival', 'dictionary');
  await page.locator(`.runs-table tr[data-run="${late}"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), 1);
  assert.deepEqual(errors, []);
});
