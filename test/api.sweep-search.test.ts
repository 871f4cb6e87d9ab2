import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE, RunDocument, SweepAccepted } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

// MAX_SWEEP_RUNS at 6: a sweep of 6 runs (baselines included) is accepted, 7 is not; a random search of 6 samples
// is accepted, 7 is refused at search.samples.
const env = testEnv('api-sweep-search', { MAX_SWEEP_RUNS: '6' });
const app = await buildApp({ env, logger: false });
after(async () => {
  await app.close();
  await env.cleanup();
});
const post = (payload: unknown) => app.inject({ method: 'POST', url: '/sweeps', payload: payload as object });
const base = { dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 8 }, training: { epochs: 3 } };

test('MAX_SWEEP_RUNS: at the limit accepted, one over refused (grid: sweep-too-large; random: search.samples)', async () => {
  const grid = await post({ base, vary: { 'representation.bits': [2, 3, 4, 5, 6] } });
  assert.equal(grid.statusCode, 202, grid.body);
  assert.equal(SweepAccepted.parse(grid.json()).runs.length, 6);
  const over = await post({ base, vary: { 'representation.bits': [2, 3, 4, 5, 6, 7] } });
  assert.equal(over.statusCode, 400);
  assert.equal(over.json().type, `${PROBLEM_BASE}sweep-too-large`);
  assert.match(over.json().detail, /7 runs; at most 6/);

  const random = await post({ base, vary: { 'training.learningRate': { min: 0.001, max: 0.1, log: true } }, search: { kind: 'random', samples: 6, seed: 2 } });
  // 6 samples, each with its own baseline: 12 runs, over the limit as a sweep (the samples themselves are allowed)
  assert.equal(random.json().type, `${PROBLEM_BASE}sweep-too-large`);
  const seven = await post({ base, vary: { 'training.learningRate': { min: 0.001, max: 0.1, log: true } }, search: { kind: 'random', samples: 7 } });
  assert.equal(seven.statusCode, 400);
  assert.deepEqual(seven.json().issues[0].path, ['search', 'samples']);
  assert.match(seven.json().issues[0].message, /7 samples > the sweep limit of 6/);
});

test('a random search stores runs that carry their draw, their own baseline and the stopping rule', async () => {
  const res = await post({
    name: 'r',
    base,
    vary: { 'training.learningRate': [0.01, 0.05], 'representation.bits': { min: 2, max: 4 } },
    search: { kind: 'random', samples: 3, seed: 5 },
    stopping: { kind: 'asha', minEpochs: 1, reduction: 2 },
  });
  assert.equal(res.statusCode, 202, res.body);
  const acc = SweepAccepted.parse(res.json());
  const docs = (await app.ql.runs.getMany(acc.runs)).map((d) => RunDocument.parse(d));
  const runs = docs.filter((d) => d.config.representation.kind === 'fixed');
  assert.ok(runs.length >= 2 && runs.length <= 3);
  for (const r of runs) {
    const b = docs.find((d) => d.id === r.baselineId)!;
    assert.equal(b.config.representation.kind, 'float32');
    assert.equal(b.config.training.learningRate, r.config.training.learningRate, 'compared with the baseline of its own learning rate');
    assert.deepEqual(r.stopping, { kind: 'asha', minEpochs: 1, reduction: 2 });
    assert.equal(acc.baselines[`1 learningRate=${r.config.training.learningRate}`], b.id);
  }
  for (const b of docs.filter((d) => d.config.representation.kind === 'float32')) assert.equal(b.stopping, null);
  // GET /presets keeps its shape
  const presets = (await app.inject({ method: 'GET', url: '/presets' })).json();
  assert.deepEqual(Object.keys(presets.items[0].vary).sort(), ['phase', 'representation', 'seeds', 'training.master']);
});
