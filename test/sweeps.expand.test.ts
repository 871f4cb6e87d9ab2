import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GridSweepRequest, LIMITS, PresetSweepRequest, SweepPlanError, SweepRequest, expandPattern, planSweep, summarize, sweepStatus, withRelativeAccuracy, type RunDocument } from '@quantlab/shared';
import { mcnemarExact, meanInterval95, t975, wilson95 } from '../services/shared/src/sweeps/stats.ts';

const grid = (vary: unknown, base: Record<string, unknown> = { dataset: 'mnist', model: 'mlp' }) => SweepRequest.parse({ name: 's', base, vary });

test('list-valued fields expand inside their entry: six fixed, four dictionary', () => {
  const six = expandPattern({ kind: 'fixed', bits: [2, 4, 8], rounding: ['nearest', 'stochastic'] });
  assert.equal(six.length, 6);
  assert.deepEqual(six[0], { kind: 'fixed', bits: 2, rounding: 'nearest' });
  assert.deepEqual(six[5], { kind: 'fixed', bits: 8, rounding: 'stochastic' });
  assert.equal(expandPattern({ kind: 'dictionary', bits: [1, 2, 3, 4] }).length, 4);

  const plan = planSweep(grid({ representation: [{ kind: 'fixed', bits: [2, 4, 8], rounding: ['nearest', 'stochastic'] }, { kind: 'dictionary', bits: [1, 2, 3, 4] }] }));
  // 10 runs + one float32 baseline (one seed, one phase)
  assert.equal(plan.runs.length, 11);
  assert.equal(plan.runs.filter((r) => r.isBaseline).length, 1);
  assert.deepEqual(
    plan.runs.filter((r) => !r.isBaseline).map((r) => `${r.config.representation.kind}:${'bits' in r.config.representation ? r.config.representation.bits : ''}`),
    ['fixed:2', 'fixed:2', 'fixed:4', 'fixed:4', 'fixed:8', 'fixed:8', 'dictionary:1', 'dictionary:2', 'dictionary:3', 'dictionary:4'],
  );
});

test('the sweep is the product with phases and seeds, with one baseline per seed that runs first', () => {
  const plan = planSweep(grid({ representation: [{ kind: 'fixed', bits: [2, 4, 8], rounding: ['nearest', 'stochastic'] }], phase: ['training', 'inference'], seeds: [1, 2, 3] }, { dataset: 'mnist', model: 'mlp', priority: 40, training: { epochs: 2 } }));
  assert.equal(plan.runs.length, 6 * 2 * 3 + 3);
  const baselines = plan.runs.filter((r) => r.isBaseline);
  assert.deepEqual(baselines.map((b) => b.seed), [1, 2, 3]);
  for (const b of baselines) {
    assert.equal(b.config.representation.kind, 'float32');
    assert.equal(b.config.phase, 'training');
    assert.equal(b.config.training.epochs, 2);
    assert.equal(b.config.training.seed, b.seed);
    assert.equal(b.config.priority, 39, 'a lower number than the runs: BullMQ runs it first');
    assert.equal(plan.runs[plan.baselineOf.get(String(b.seed)) as number], b);
  }
  for (const r of plan.runs.filter((x) => !x.isBaseline)) {
    assert.equal(r.config.priority, 40);
    assert.equal(r.config.training.seed, r.seed);
  }
  // order: baselines, training-phase runs, inference-phase runs (which reuse the baselines' weights)
  const phases = plan.runs.map((r) => (r.isBaseline ? 'b' : r.config.phase[0])).join('');
  assert.match(phases, /^b{3}t{18}i{18}$/);
  assert.equal(new Set(plan.runs.map((r) => r.series)).size, 1 + 4);
});

test('identical expanded configs run once, and a float32 training entry is the baseline itself', () => {
  const plan = planSweep(
    grid({
      representation: [{ kind: 'fixed', bits: [4, 4, 8] }, { kind: 'fixed', bits: 8, rounding: 'nearest', range: 'maxabs' }, { kind: 'float32' }],
      seeds: [1, 1],
    }),
  );
  assert.equal(plan.runs.length, 3); // baseline + fixed:4 + fixed:8
});

test('an invalid combination refuses the whole sweep and names it', () => {
  assert.throws(
    () => planSweep(grid({ representation: [{ kind: 'fixed', bits: [4, 8, 33] }, { kind: 'dictionary', bits: [1, 2], init: ['uniform', 'bogus'] }] })),
    (err: unknown) => {
      assert.ok(err instanceof SweepPlanError);
      assert.equal(err.kind, 'invalid');
      const text = err.issues.map((i) => i.message).join('\n');
      assert.match(text, /"bits":33/);
      assert.match(text, /"init":"bogus"/);
      assert.deepEqual(err.issues[0].path.slice(0, 3), ['vary', 'representation', 0]);
      return true;
    },
  );
  assert.throws(() => planSweep(grid({ representation: [{ kind: 'fixed', bits: 8, colour: 'red' }] })), /1 combination/);
});

test('a sweep over LIMITS.maxSweepRuns is refused', () => {
  // 25 entries x 10 bits x 2 inits = 500 representations, x 2 phases x 10 seeds = 10,000 runs
  const representation = Array.from({ length: 25 }, (_, i) => ({ kind: 'dictionary', bits: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], init: ['uniform', 'nonuniform'], refine: i % 21, scope: i < 21 ? 'global' : 'per-layer' }));
  assert.throws(
    () => planSweep(grid({ representation, phase: ['training', 'inference'], seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] })),
    (err: unknown) => err instanceof SweepPlanError && err.kind === 'too-large' && /10010 runs/.test(err.message),
  );
  // just over the cap after dedupe also refused; just under accepted
  const ok = planSweep(grid({ representation: [{ kind: 'dictionary', bits: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], refine: Array.from({ length: 21 }, (_, i) => i), init: ['uniform', 'nonuniform'] }] }));
  assert.equal(ok.runs.length, 421);
  assert.ok(ok.runs.length <= LIMITS.maxSweepRuns);
  assert.throws(
    () => planSweep(grid({ representation: [{ kind: 'dictionary', bits: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], refine: Array.from({ length: 21 }, (_, i) => i), init: ['uniform', 'nonuniform'], scope: ['global', 'per-layer'] }] })),
    /841 runs; at most 500/,
  );
});

test('a varied training.master runs compact where it applies, shares the float32 baseline, and names its series', () => {
  const plan = planSweep(
    GridSweepRequest.parse({
      base: { dataset: 'mnist', training: { epochs: 1 } },
      vary: {
        representation: [{ kind: 'fixed', bits: [4, 8], rounding: ['nearest', 'stochastic'] }, { kind: 'dictionary', bits: 2 }],
        phase: ['training', 'inference'],
        'training.master': ['float32', 'compact'],
        seeds: [1, 2],
      },
    }),
  );
  const compact = plan.runs.filter((r) => r.config.training.master === 'compact');
  // fixed:4 and fixed:8 stochastic and dictionary:2, training phase only, per seed.
  assert.deepEqual(compact.map((r) => `${r.seed} ${r.series} ${(r.config.representation as { bits: number }).bits}`).sort(), [
    '1 dictionary/global/uniform/r0/epoch/training/compact 2',
    '1 fixed/maxabs/stochastic/training/compact 4',
    '1 fixed/maxabs/stochastic/training/compact 8',
    '2 dictionary/global/uniform/r0/epoch/training/compact 2',
    '2 fixed/maxabs/stochastic/training/compact 4',
    '2 fixed/maxabs/stochastic/training/compact 8',
  ]);
  // The other points run once, with a float32 master: 5 representations x 2 phases x 2 seeds, plus 2 baselines.
  assert.equal(plan.runs.length, 5 * 2 * 2 + 2 + compact.length);
  const baselines = plan.runs.filter((r) => r.isBaseline);
  assert.deepEqual(baselines.map((r) => r.baselineKey), ['1', '2']);
  assert.ok(compact.every((r) => r.baselineKey === String(r.seed)));
  // A base config that asks for a compact master where it cannot apply is refused, naming the field.
  assert.throws(
    () =>
      planSweep(
        GridSweepRequest.parse({
          base: { dataset: 'mnist', representation: { kind: 'fixed', bits: 4, rounding: 'stochastic' }, training: { master: 'compact' } },
          vary: { representation: [{ kind: 'fixed', bits: 4, rounding: 'nearest' }] },
        }),
      ),
    (e: Error & { issues?: { path: unknown[]; message: string }[] }) => e instanceof SweepPlanError && e.issues!.some((i) => /rounding "stochastic"/.test(i.message)),
  );
});

test('preset paper: the full grid and the small budget', () => {
  const full = planSweep(PresetSweepRequest.parse({ preset: 'paper' }));
  // (9 fixed x 2 roundings + 8 dictionary x 2 inits x 2 scopes) x 2 phases x 3 seeds + 3 baselines, and compact
  // masters for the training phase of (9 stochastic fixed + 8 x 2 global dictionaries) x 3 seeds.
  assert.equal(full.runs.length, (18 + 32) * 2 * 3 + 3 + (9 + 16) * 3);
  const compact = full.runs.filter((r) => r.config.training.master === 'compact');
  assert.equal(compact.length, 25 * 3);
  assert.ok(compact.every((r) => r.config.phase === 'training' && r.series.endsWith('/training/compact')));
  assert.ok(compact.every((r) => (r.config.representation.kind === 'fixed' ? r.config.representation.rounding === 'stochastic' : r.config.representation.kind === 'dictionary' && r.config.representation.scope === 'global')));
  // One float32 baseline a seed: the master is part of a series, not of the baseline.
  assert.equal(full.runs.filter((r) => r.isBaseline).length, 3);
  assert.ok(full.runs.filter((r) => r.isBaseline).every((r) => r.config.training.master === 'float32'));
  assert.deepEqual([...new Set(compact.map((r) => r.baselineKey))].sort(), ['1', '2', '3']);
  assert.match(compact[0].config.name, /^paper-full: fixed:2 training compact-master seed 1$/);
  const b = full.runs[0].config;
  assert.equal(b.model, 'cnn5');
  assert.equal(b.dataset, 'cifar10');
  assert.deepEqual(
    { epochs: b.training.epochs, lr: b.training.learningRate, m: b.training.momentum, wd: b.training.weightDecay, s: b.training.schedule, bs: b.training.batchSize, aug: b.training.augment },
    { epochs: 10, lr: 0.01, m: 0.9, wd: 5e-4, s: 'cosine', bs: 100, aug: true },
  );
  const bits = (kind: string) => [...new Set(full.runs.filter((r) => r.config.representation.kind === kind).map((r) => (r.config.representation as { bits: number }).bits))];
  assert.deepEqual(bits('fixed'), [2, 3, 4, 5, 6, 8, 10, 12, 16]);
  assert.deepEqual(bits('dictionary'), [1, 2, 3, 4, 5, 6, 7, 8]);

  // The paper's fixed point is the Q-format.
  assert.ok(full.runs.filter((r) => r.config.representation.kind === 'fixed').every((r) => r.config.representation.kind === 'fixed' && r.config.representation.range === 'pow2'));

  const small = planSweep(PresetSweepRequest.parse({ preset: 'paper', budget: 'small', base: { training: { epochs: 3 } } }));
  // Seeds 1, 2, 3 by default, as for the full grid.
  assert.equal(small.runs.length, ((8 + 8) * 2 + 1 + 4 + 8) * 3);
  assert.deepEqual([...new Set(small.runs.map((r) => r.config.training.seed))], [1, 2, 3]);
  const s = small.runs[0].config;
  assert.equal(s.dataset, 'fashion-mnist');
  assert.equal(s.training.augment, false);
  assert.equal(s.training.epochs, 3, 'an override wins over the preset');
  assert.equal(s.training.trainLimit, 6000);
  assert.equal(s.training.momentum, 0.9, 'an override of one field keeps the preset’s others');

  const seeds = planSweep(PresetSweepRequest.parse({ preset: 'paper', budget: 'small', seeds: [7, 8], base: { dataset: 'mnist' } }));
  assert.equal(seeds.runs.length, ((8 + 8) * 2 + 1 + 4 + 8) * 2);
  assert.equal(seeds.runs[0].config.dataset, 'mnist');
  assert.throws(() => PresetSweepRequest.parse({ preset: 'paper', base: { representation: { kind: 'float32' } } }));
});

function doc(over: Partial<RunDocument> & { acc?: number | null; bits?: number }): RunDocument {
  return {
    id: 'run_x',
    name: 'x',
    status: 'completed',
    progress: { epoch: 1, epochs: 1, fraction: 1 },
    config: { representation: over.bits ? { kind: 'fixed', bits: over.bits, range: 'maxabs', rounding: 'nearest' } : { kind: 'float32' }, phase: 'training', training: { seed: 1 } } as RunDocument['config'],
    metrics: { testAccuracy: over.acc ?? null, trainLoss: null, durationMs: null, backend: null, weightBytes: { float32: 400, compact: 100 }, compressionRatio: 4 },
    epochs: [],
    workerId: null,
    error: null,
    createdAt: '',
    startedAt: null,
    finishedAt: null,
    sweepId: 'swp_x',
    series: over.bits ? 'fixed/maxabs/nearest/training' : 'float32/training',
    baselineId: null,
    retryOf: null,
    attempts: 0,
    dataset: null,
    provenance: null,
    artifact: null,
    imported: null,
    stopping: null,
    stopped: null,
    ...over,
  };
}

test('relative accuracy, summary and sweep status', () => {
  const base = doc({ id: 'b', acc: 0.8 });
  const a = withRelativeAccuracy(doc({ id: 'a', bits: 8, acc: 0.78, baselineId: 'b' }), base);
  const c = withRelativeAccuracy(doc({ id: 'c', bits: 8, acc: 0.7, baselineId: 'b' }), base);
  assert.ok(Math.abs((a.metrics.relativeAccuracy ?? 0) - 0.975) < 1e-12);
  assert.equal(withRelativeAccuracy(base, null).metrics.relativeAccuracy, 1);
  assert.equal(withRelativeAccuracy(doc({ bits: 8, acc: 0.7, baselineId: 'b' }), { ...base, status: 'running' }).metrics.relativeAccuracy, undefined);
  const rows = summarize([withRelativeAccuracy(base, null), a, c, doc({ id: 'q', bits: 8, status: 'queued', baselineId: 'b' })]);
  assert.equal(rows.length, 2);
  const fixed = rows.find((r) => r.bits === 8);
  assert.equal(fixed?.n, 2);
  assert.equal(fixed?.runs, 3);
  assert.ok(Math.abs((fixed?.testAccuracy.mean ?? 0) - 0.74) < 1e-12);
  assert.equal(fixed?.testAccuracy.min, 0.7);
  assert.equal(fixed?.relativeAccuracy.max, a.metrics.relativeAccuracy);
  assert.equal(fixed?.compressionRatio, 4);
  assert.equal(fixed?.compactBytes, 100);
  // Two seeds: a 95% t-interval of the mean (t = 12.706 at one degree of freedom).
  const rel = [a.metrics.relativeAccuracy!, c.metrics.relativeAccuracy!];
  const half = (12.706 * Math.abs(rel[0] - rel[1])) / Math.sqrt(2) / Math.sqrt(2);
  assert.ok(Math.abs(fixed!.relativeAccuracy.ci95!.low - ((rel[0] + rel[1]) / 2 - half)) < 1e-12);
  assert.equal(rows.find((r) => r.bits === 32)?.relativeAccuracy.ci95, null, 'one run: no interval');
  assert.equal(sweepStatus({ queued: 2, running: 0, completed: 0, failed: 0, cancelled: 0, stopped: 0 }), 'queued');
  assert.equal(sweepStatus({ queued: 1, running: 0, completed: 1, failed: 0, cancelled: 0, stopped: 0 }), 'running');
  assert.equal(sweepStatus({ queued: 0, running: 0, completed: 3, failed: 0, cancelled: 0, stopped: 0 }), 'completed');
  assert.equal(sweepStatus({ queued: 0, running: 0, completed: 2, failed: 1, cancelled: 0, stopped: 0 }), 'failed');
  assert.equal(sweepStatus({ queued: 0, running: 0, completed: 2, failed: 0, cancelled: 0, stopped: 2 }), 'completed', 'a run stopped by the rule is an ordinary outcome of a search');
});

test('summary rows list each run with its binomial interval and McNemar against its seed baseline, from the stored bitsets', () => {
  // 16 test images: the baseline gets images 0-11 right; the run gets 0-7 and 12-15 right: b = 4 (12-15), c = 4 (8-11).
  const bits = (right: number[]) => {
    const b = new Uint8Array(2);
    for (const i of right) b[i >> 3] |= 1 << (i & 7);
    return Buffer.from(b).toString('base64');
  };
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const dataset = { name: 'mnist', train: 100, test: 16, inputShape: [28, 28, 1], split: 's' };
  const base = doc({ id: 'b', acc: 12 / 16, dataset, metrics: { ...doc({}).metrics, testAccuracy: 12 / 16, correct: bits(range(0, 12)) } });
  const run = withRelativeAccuracy(doc({ id: 'r', bits: 4, baselineId: 'b', dataset, metrics: { ...doc({}).metrics, testAccuracy: 12 / 16, correct: bits([...range(0, 8), ...range(12, 16)]) } }), base);
  const worse = withRelativeAccuracy(doc({ id: 'w', bits: 2, baselineId: 'b', dataset, metrics: { ...doc({}).metrics, testAccuracy: 2 / 16, correct: bits([0, 1]) } }), base);
  const rows = summarize([withRelativeAccuracy(base, null), run, worse]);
  const four = rows.find((r) => r.bits === 4)!.seeds[0];
  assert.deepEqual(four.mcnemar, { b: 4, c: 4, p: 1 });
  assert.equal(four.test, 16);
  assert.deepEqual(four.binomial95, { low: wilson95(12, 16)[0], high: wilson95(12, 16)[1] });
  // 10 images only the baseline gets right, none the other way: p = 2 · 2^-10.
  assert.deepEqual(rows.find((r) => r.bits === 2)!.seeds[0].mcnemar, { b: 0, c: 10, p: 2 / 1024 });
  // Without bitsets (runs stored before they existed) there is no paired test, but the rest is there.
  const old = summarize([withRelativeAccuracy(doc({ id: 'b' , acc: 0.8 }), null), withRelativeAccuracy(doc({ id: 'o', bits: 4, acc: 0.8, baselineId: 'b' }), doc({ id: 'b', acc: 0.8 }))]);
  assert.equal(old.find((r) => r.bits === 4)!.seeds[0].mcnemar, null);
});

test('statistics: t quantiles, the t-interval, Wilson intervals and McNemar exact p-values against hand-computed values', () => {
  assert.equal(t975(1), 12.706);
  assert.equal(t975(2), 4.303);
  assert.equal(t975(30), 2.042);
  assert.equal(t975(200), 1.96);
  const [lo, hi] = meanInterval95([1, 2, 3])!;
  assert.ok(Math.abs(lo - (2 - 4.303 / Math.sqrt(3))) < 1e-12 && Math.abs(hi - (2 + 4.303 / Math.sqrt(3))) < 1e-12);
  assert.equal(meanInterval95([0.9]), null);
  // Wilson, 85 of 100 (computed independently): [0.76716, 0.90694].
  const w = wilson95(85, 100);
  assert.ok(Math.abs(w[0] - 0.7671644) < 1e-6 && Math.abs(w[1] - 0.9069401) < 1e-6, `${w}`);
  assert.deepEqual(wilson95(0, 10).map((x) => x >= 0 && x <= 1), [true, true]);
  // McNemar: b = 10, c = 2 → 2·(1 + 12 + 66)/4096; a large table (3,000 discordant, 1,400 vs 1,600) does not underflow.
  assert.ok(Math.abs(mcnemarExact(10, 2) - 0.03857421875) < 1e-15);
  assert.equal(mcnemarExact(2, 10), mcnemarExact(10, 2));
  assert.equal(mcnemarExact(0, 0), 1);
  assert.ok(Math.abs(mcnemarExact(1400, 1600) / 0.0002785639610392337 - 1) < 1e-9, `${mcnemarExact(1400, 1600)}`);
});
