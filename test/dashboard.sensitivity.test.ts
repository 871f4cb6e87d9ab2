// The sweep page of a sensitivity sweep draws each layer's relative accuracy against the width it alone is quantized
// at, with the API's numbers; the main figure keeps to the uniform series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SweepDocument } from '@quantlab/shared/schemas/sweep';
import { RunDocument, SweepAccepted } from '@quantlab/shared';
import { openDashboard, screenshotPath, watchErrors } from './helpers/browser.ts';

test('a sensitivity sweep shows the per-layer sensitivity figure, one line per layer', { timeout: 90_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-sensitivity');
  const res = await fetch(`${stack.url}/sweeps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ preset: 'sensitivity', budget: 'small', base: { dataset: 'mnist', model: 'mlp' }, seeds: [1], widths: [2, 4, 6] }),
  });
  assert.equal(res.status, 202);
  const acc = SweepAccepted.parse(await res.json());
  const { runs } = stack.app.ql;
  // Finished by hand (no worker): fc2 (the output layer) loses more at low widths than fc1.
  for (const d of (await runs.getMany(acc.runs)).map((x) => RunDocument.parse(x))) {
    const r = d.config.representation;
    const layer = /\/layer:(.+)$/.exec(d.series)?.[1];
    const bits = r.kind === 'float32' ? 32 : r.bits;
    const loss = layer === 'fc1' ? 0.02 / bits : layer === 'fc2' ? 0.2 / bits : 0.1 / bits;
    await runs.update(d.id, { status: 'completed', metrics: { testAccuracy: r.kind === 'float32' ? 0.9 : 0.9 * (1 - loss), trainLoss: 0.3, durationMs: 1, backend: 'wasm' } });
  }

  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  const errors = watchErrors(page);
  await page.goto(`${stack.url}/#/sweeps/${acc.id}`);
  const chart = page.locator('#chart-sensitivity');
  // fc1 and fc2 at 2, 4 and 6 bits (inference phase): six points.
  await page.locator('#chart-sensitivity[data-points="6"]').waitFor({ timeout: 20_000 });
  assert.equal(await chart.getAttribute('data-layers'), 'fc1,fc2');
  assert.equal(await page.locator('#sensitivity').isVisible(), true);
  const legend = (await page.locator('#sensitivity .u-legend').textContent()) ?? '';
  assert.match(legend, /fc1 · inference/);
  assert.match(legend, /fc2 · inference/);
  // The main figure: the uniform series only (3 widths in each phase), not the one-layer runs.
  await page.locator('#chart-relative[data-points="6"]').waitFor({ timeout: 10_000 });

  const doc = (await (await fetch(`${stack.url}/sweeps/${acc.id}`)).json()) as SweepDocument;
  const row = doc.summary.find((r) => r.series === 'fixed/pow2/nearest/inference/layer:fc2' && r.bits === 2)!;
  assert.ok(Math.abs(row.relativeAccuracy.mean! - 0.9) < 1e-12);
  const tr = page.locator(`.summary-table tr[data-series="${row.series}"][data-bits="2"]`);
  assert.equal(((await tr.locator('[data-col=rel-acc]').textContent()) ?? '').trim(), '90.00%');
  assert.match((await tr.locator('td').first().textContent()) ?? '', /Fixed point .* · inference · layer:fc2/);
  await page.screenshot({ path: screenshotPath('dashboard-sensitivity'), fullPage: true });
  assert.deepEqual(errors, []);
});
