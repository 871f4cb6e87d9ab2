import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { SweepDocument } from '@quantlab/shared/schemas/sweep';
import type { RunDocument } from '@quantlab/shared';
import { screenshotPath, openDashboard, watchErrors } from './helpers/browser.ts';

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(2)}%`);

test('a sweep submitted through the form ends in the figure, and the numbers shown are the API’s', { timeout: 90_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-sweep', { worker: true });
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const errors = watchErrors(page);

  await page.goto(`${stack.url}/#/new/sweep`);
  const form = page.locator('#sweep-form');
  await form.locator('[name=name]').fill('e2e-sweep');
  await form.locator('[name=dataset]').selectOption('mnist');
  await form.locator('[name=model]').selectOption('mlp');
  await form.locator('[name=epochs]').fill('1');
  await form.locator('[name=trainLimit]').fill('500');
  await form.locator('[name=testLimit]').fill('500');
  await form.locator('[name=dictBits]').fill('2');
  await form.locator('[name=seeds]').fill('1');

  // An out-of-range bit width: the API refuses it and its message appears next to the fixed-point bits field.
  await form.locator('[name=fixedBits]').fill('2, 40');
  await form.locator('button[type=submit]').click();
  const bitsError = form.locator('[data-field="fixed.bits"] > .field-error');
  await bitsError.filter({ hasText: /\S/ }).waitFor({ timeout: 10_000 });
  assert.match((await bitsError.textContent()) ?? '', /bits/i);
  assert.equal(await form.locator('[data-field="fixed.bits"]').getAttribute('class'), 'field invalid');
  assert.equal((await (await fetch(`${stack.url}/sweeps`)).json()).items.length, 0, 'nothing was created');

  await form.locator('[name=fixedBits]').fill('2, 8');
  await form.locator('button[type=submit]').click();
  await page.waitForURL(/#\/sweeps\/[^/]+$/, { timeout: 10_000 });
  const sweepId = decodeURIComponent(page.url().split('#/sweeps/')[1]);

  const created = (await (await fetch(`${stack.url}/sweeps/${sweepId}`)).json()) as SweepDocument;
  assert.equal(created.runs.length, 4, 'fixed 2 and 8, dictionary 2, float32 baseline');

  // The figure counts the runs aggregated into its points; wait until every run of the sweep is in it.
  await page
    .locator(`#chart-relative[data-runs="${created.runs.length}"]`)
    .waitFor({ timeout: 60_000 })
    .catch(async (e: Error) => {
      // Say why: the runs' statuses and errors, not only that the figure never filled.
      const now = (await (await fetch(`${stack.url}/sweeps/${sweepId}`)).json()) as SweepDocument;
      const runs = now.runs.map((r) => `${r.name}: ${r.status}${r.error ? ` (${r.error.message})` : ''}`).join('; ');
      throw new Error(`${e.message}\nsweep ${now.status}: ${runs}`);
    });
  await page.locator('.page-head .badge[data-status="completed"]').waitFor({ timeout: 10_000 });

  const doc = (await (await fetch(`${stack.url}/sweeps/${sweepId}`)).json()) as SweepDocument;
  assert.equal(doc.status, 'completed');
  const plotted = doc.summary.filter((r) => !r.series.startsWith('float32/'));
  assert.equal(plotted.length, 3);
  assert.equal(await page.locator('#chart-relative').getAttribute('data-points'), String(plotted.length));
  assert.equal(await page.locator('#chart-relative canvas').count(), 1);
  for (const chart of ['#chart-bytes', '#chart-training-bytes', '#chart-energy']) assert.equal(await page.locator(`${chart} canvas`).count(), 1, chart);
  for (const row of doc.summary) {
    const tr = page.locator(`.summary-table tr[data-series="${row.series}"][data-bits="${row.bits}"]`);
    assert.equal(await tr.count(), 1, `summary row ${row.series} ${row.bits}`);
    assert.equal(((await tr.locator('[data-col=test-acc]').textContent()) ?? '').trim(), pct(row.testAccuracy.mean), `${row.series}:${row.bits} test accuracy`);
    assert.equal(((await tr.locator('[data-col=rel-acc]').textContent()) ?? '').trim(), pct(row.relativeAccuracy.mean), `${row.series}:${row.bits} relative accuracy`);
    assert.equal(Number(await tr.locator('[data-col=bytes]').getAttribute('data-value')), row.compactBytes);
    // Issue 18's costs: the bytes training held and the energy of an inference image, as the API summarizes them.
    assert.ok(row.trainingStateBytes! > 0 && row.energyPj! > 0, `${row.series}:${row.bits} costs`);
    assert.equal(Number(await tr.locator('[data-col=training-bytes]').getAttribute('data-value')), row.trainingStateBytes);
    assert.equal(Number(await tr.locator('[data-col=energy]').getAttribute('data-value')), row.energyPj);
    // Per seed: the run's accuracy with its binomial interval, and McNemar's p against the baseline (not for the baseline).
    const seeds = ((await tr.locator('[data-col=seeds]').textContent()) ?? '').trim();
    assert.match(seeds, /^s1 \d+\.\d+% \[\d+\.\d+%, \d+\.\d+%\]/, `${row.series}:${row.bits} per seed`);
    assert.equal(/ p (< 0\.001|\d\.\d{3})$/.test(seeds), !row.series.startsWith('float32/'), seeds);
  }
  const baseline = doc.summary.find((r) => r.series.startsWith('float32/'));
  assert.equal(baseline?.relativeAccuracy.mean, 1, 'the baseline is the 100% line');
  await page.screenshot({ path: screenshotPath('dashboard-sweep'), fullPage: true });
  // The summary as CSV: one line per summary row, the same numbers.
  const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.locator('#download-csv').click()]);
  const csv = readFileSync(await csvDownload.path(), 'utf8').trim().split('\r\n');
  assert.equal(csv[0].split(',')[0], 'series');
  assert.equal(csv.length, 1 + doc.summary.length);
  for (const row of doc.summary) {
    const fields = csv.find((l) => l.startsWith(`${row.series},${row.bits},`))?.split(',');
    assert.ok(fields, `csv row ${row.series} ${row.bits}`);
    assert.equal(Number(fields[3]), row.testAccuracy.mean);
    assert.equal(Number(fields[6]), row.relativeAccuracy.mean);
    assert.equal(Number(fields[9]), row.compactBytes);
    assert.equal(Number(fields[11]), row.trainingStateBytes);
    assert.equal(Number(fields[12]), row.energyPj);
  }

  // A run's page: its numbers, curves and the artifact download (fetched as a blob).
  const run = doc.runs.find((r) => r.config.representation.kind === 'fixed') as RunDocument;
  await page.goto(`${stack.url}/#/runs/${run.id}`);
  await page.locator('[data-stat=test-acc] .stat-value').filter({ hasText: '%' }).waitFor();
  assert.equal((await page.locator('[data-stat=test-acc] .stat-value').textContent())?.trim(), pct(run.metrics.testAccuracy));
  assert.ok(await page.locator('.weight-table tbody tr').count() >= 2, 'a row per layer plus the total');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  const file = await download.path();
  assert.equal(readFileSync(file).length, run.artifact?.bytes);
  await page.screenshot({ path: screenshotPath('dashboard-run'), fullPage: true });

  // Chromium logs the refused submit above as a console error; anything else is a bug.
  assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), []);
});
