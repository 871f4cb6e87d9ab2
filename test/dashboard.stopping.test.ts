import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SweepDocument } from '@quantlab/shared/schemas/sweep';
import { openDashboard, screenshotPath, watchErrors } from './helpers/browser.ts';

// Issue 19's "done when": a random search over the learning rate (log range) and bits with the median rule stops at
// least one run early on the real stack (API, worker process, Redis), and the dashboard and the report show it.
test('a random search with the median rule stops hopeless runs early; the dashboard and the report show them as stopped', { timeout: 240_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-stopping', { worker: true });
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const errors = watchErrors(page);

  // The sweep form sends a stopping rule; one that could never decide (from epoch 5 of 2) is refused next to its field.
  await page.goto(`${stack.url}/#/new/sweep`);
  const form = page.locator('#sweep-form');
  await form.locator('[name=stopping]').selectOption('median');
  await form.locator('[name=stoppingFrom]').fill('5');
  await form.locator('button[type=submit]').click();
  const fromError = form.locator('[data-field="stopping.from"] > .field-error');
  await fromError.filter({ hasText: /\S/ }).waitFor({ timeout: 10_000 });
  assert.match((await fromError.textContent()) ?? '', /warmup 5 must be below the runs' epochs \(2\)/);
  assert.equal((await (await fetch(`${stack.url}/sweeps`)).json()).items.length, 0, 'nothing was created');

  const body = {
    name: 'lr-bits',
    base: { dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 8 }, training: { epochs: 3, trainLimit: 600, testLimit: 300, batchSize: 50, schedule: 'constant' } },
    vary: { 'training.learningRate': { min: 1e-4, max: 0.3, log: true }, 'representation.bits': [2, 8] },
    search: { kind: 'random', samples: 4, seed: 1 },
    stopping: { kind: 'median', warmup: 1 },
  };
  const res = await fetch(`${stack.url}/sweeps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 202, await res.clone().text());
  const { id } = (await res.json()) as { id: string };

  let doc: SweepDocument;
  const until = Date.now() + 200_000;
  for (;;) {
    doc = (await (await fetch(`${stack.url}/sweeps/${id}`)).json()) as SweepDocument;
    if (!['queued', 'running'].includes(doc.status)) break;
    if (Date.now() > until) throw new Error(`sweep still ${doc.status}: ${doc.runs.map((r) => `${r.name} ${r.status}`).join('; ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const why = doc.runs.map((r) => `${r.name}: ${r.status} ${r.epochs.map((e) => e.testAccuracy.toFixed(3)).join('/')} ${r.stopped?.reason ?? r.error?.message ?? ''}`).join('\n');
  assert.equal(doc.status, 'completed', why);
  const wall = (Math.max(...doc.runs.map((r) => Date.parse(r.finishedAt ?? ''))) - Date.parse(doc.createdAt)) / 1000;
  t.diagnostic(`sweep of ${doc.runs.length} runs in ${wall.toFixed(1)} s\n${why}`);
  const stopped = doc.runs.filter((r) => r.status === 'stopped');
  const baselines = doc.runs.filter((r) => r.config.representation.kind === 'float32');
  assert.equal(baselines.length, 4, 'one baseline per learning rate drawn');
  assert.ok(stopped.length >= 1, `at least one run stopped early:\n${why}`);
  assert.equal(doc.counts.stopped, stopped.length);
  assert.ok(baselines.every((b) => b.status === 'completed' && b.stopping === null), 'baselines are never stopped');
  for (const r of stopped) {
    assert.deepEqual(r.stopping, { kind: 'median', warmup: 1, minPeers: 1 });
    assert.ok(r.stopped && r.epochs.length === r.stopped.epoch && r.epochs.length < r.config.training.epochs, `${r.name} keeps the epochs it trained`);
    const acc = r.epochs[r.epochs.length - 1].testAccuracy;
    assert.match(r.stopped.reason, new RegExp(`^median rule: test accuracy ${acc.toFixed(4).replace('.', '\\.')} at epoch ${r.stopped.epoch} is below the median`));
    assert.equal(r.metrics.testAccuracy, acc);
    assert.equal(r.artifact, null);
  }
  // The summary (and so "fewest bits") aggregates completed runs only.
  assert.equal(doc.summary.reduce((n, row) => n + row.n, 0), doc.counts.completed);

  // The dashboard: stopped runs greyed in the table, drawn in the figure apart from the series, with their reason.
  await page.goto(`${stack.url}/#/sweeps/${id}`);
  await page.locator(`#chart-relative[data-stopped="${stopped.length}"]`).waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('tr.run-stopped').count(), stopped.length);
  assert.equal(await page.locator('tr.run-stopped .badge[data-status="stopped"]').count(), stopped.length);
  assert.match((await page.locator('#chart-relative .u-legend').textContent()) ?? '', /stopped early \(last epoch\)/);
  await page.screenshot({ path: screenshotPath('dashboard-sweep-stopped'), fullPage: true });
  await page.goto(`${stack.url}/#/runs/${stopped[0].id}`);
  await page.locator('#stopped-reason').waitFor({ timeout: 10_000 });
  assert.match((await page.locator('#stopped-reason').textContent()) ?? '', new RegExp(`stopped after epoch ${stopped[0].stopped!.epoch}: median rule`));
  assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), [], 'no page error but the refused form');

  // The report lists them apart, with their reason.
  const dir = mkdtempSync(join(tmpdir(), 'ql-stopping-'));
  // Not spawnSync: the API runs in this process and must keep answering.
  await promisify(execFile)(process.execPath, ['services/cli/bin/quantlab.js', 'report', id, '--out', join(dir, 'r.md')], { env: { ...process.env, QUANTLAB_URL: stack.url } });
  const md = readFileSync(join(dir, 'r.md'), 'utf8');
  assert.match(md, new RegExp(`## Stopped early\\n\\n${stopped.length} run\\(s\\) were stopped`));
  for (const s of stopped) assert.ok(md.includes(`| \`${s.name}\` |`) && md.includes(s.stopped!.reason), `${s.name} in the report`);
});
