import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { ExperimentConfig, RunStore, SweepStore, newRunDocument, type RunDocument } from '@quantlab/shared';
import { openDashboard, watchErrors } from './helpers/browser.ts';

// Issue 19 item 5: a sweep whose relative accuracy spans 98.9-100.2% drew y ticks reading 99, 99, 99, 99, 100, ...
// (and its size chart 90, 90, 90, 91, ...). The ticks must carry the decimals their spacing needs.
test('chart axis ticks have as many decimals as the range needs, in Chromium', { timeout: 60_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-ticks');
  const redis = new Redis(stack.env.REDIS_URL);
  t.after(() => redis.disconnect());
  const runs = new RunStore(redis, stack.env.KEY_PREFIX);
  const sweeps = new SweepStore(redis, stack.env.KEY_PREFIX);

  const sweepId = 'swp_ticks01';
  const now = Date.now();
  const config = (representation: unknown) => ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', representation });
  const done = (doc: RunDocument, acc: number, bytes: number): RunDocument => ({
    ...doc,
    status: 'completed',
    metrics: { testAccuracy: acc, trainLoss: 0.1, durationMs: 1, backend: 'cpu', weightBytes: { float32: 400_000, compact: bytes }, compressionRatio: 400_000 / bytes },
    progress: { epoch: 1, epochs: 1, fraction: 1 },
  });
  const baseline = done(newRunDocument(config({ kind: 'float32' }), { id: 'run_ticks_b', sweepId, createdAt: new Date(now).toISOString() }), 0.9, 400_000);
  const relative = [0.989, 0.995, 1.0, 1.002];
  const fixed = [2, 4, 6, 8].map((bits, i) =>
    done(newRunDocument(config({ kind: 'fixed', bits }), { id: `run_ticks_${bits}`, sweepId, baselineId: baseline.id, createdAt: new Date(now + i + 1).toISOString() }), 0.9 * relative[i], 12_500 * bits),
  );
  await runs.createMany([baseline, ...fixed]);
  await sweeps.create({ id: sweepId, name: 'ticks', createdAt: new Date(now).toISOString(), preset: null, budget: null, request: {}, runIds: [baseline.id, ...fixed.map((r) => r.id)], baselines: { '1': baseline.id } });

  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const errors = watchErrors(page);
  await page.goto(`${stack.url}/#/sweeps/${sweepId}`);
  await page.locator('#chart-relative[data-runs="5"]').waitFor({ timeout: 15_000 });
  const ticks = async (chart: string, axis: 'x' | 'y') => {
    await page.locator(`#${chart}[data-${axis}-ticks]`).waitFor({ timeout: 10_000 });
    return ((await page.locator(`#${chart}`).getAttribute(`data-${axis}-ticks`)) ?? '').split('|').filter(Boolean);
  };
  for (const chart of ['chart-relative', 'chart-bytes']) {
    const y = await ticks(chart, 'y');
    assert.ok(y.length >= 3, `${chart}: ${y.join(', ')}`);
    assert.equal(new Set(y).size, y.length, `${chart}: every y tick reads differently: ${y.join(', ')}`);
    // evenly spaced labels: the decimals shown are enough to tell the step
    const steps = y.slice(1).map((v, i) => Number(v) - Number(y[i]));
    for (const s of steps) assert.ok(Math.abs(s - steps[0]) < 1e-9 && s > 0, `${chart}: ${y.join(', ')}`);
    assert.ok(y.every((v) => /^\d+\.\d+$/.test(v)), `${chart}: decimals where the step is below 1: ${y.join(', ')}`);
    assert.ok(y.every((v) => v.split('.')[1].length === y[0].split('.')[1].length), `${chart}: one number of decimals on an axis`);
  }
  const rel = (await ticks('chart-relative', 'y')).map(Number);
  assert.ok(Math.min(...rel) <= 98.9 && Math.max(...rel) >= 100, `the relative axis covers 98.9-100.2: ${rel.join(', ')}`);
  // Whole-number ticks stay whole: the bits axis reads 2, 3, ... 8 (or a subset), no decimals.
  const bits = await ticks('chart-relative', 'x');
  assert.ok(bits.every((v) => /^\d+$/.test(v)), bits.join(', '));
  assert.deepEqual(errors, []);
});
