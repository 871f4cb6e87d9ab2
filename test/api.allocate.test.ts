// POST /sweeps/:id/allocate against a real Redis: bad targets and sweeps without a sensitivity series are refused
// with the reason; a finished sensitivity sweep gets its allocated runs queued and added to it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { AllocateAccepted, PROBLEM_BASE, RunDocument, SweepAccepted, SweepDocument } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

const env = testEnv('api-allocate');
const app = await buildApp({ env, logger: false });
const { runs, queue } = app.ql;
after(async () => {
  await app.close();
  await env.cleanup();
});

const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });
const sensitivity = { preset: 'sensitivity', budget: 'small', base: { dataset: 'mnist', model: 'mlp' }, seeds: [1, 2], widths: [2, 4] };

/** The test accuracy each run "reached": baselines 0.9; fc1 barely cares about 2 bits, fc2 does. */
function accuracyOf(d: RunDocument): number {
  const r = d.config.representation;
  if (r.kind === 'float32') return 0.9;
  const layer = /\/layer:(.+)$/.exec(d.series)?.[1];
  if (layer === 'fc1') return r.bits === 2 ? 0.894 : 0.9;
  if (layer === 'fc2') return r.bits === 2 ? 0.85 : 0.899;
  return r.bits === 2 ? 0.84 : 0.897; // every layer at that width
}

async function complete(docs: RunDocument[]): Promise<void> {
  for (const d of docs) {
    const weightError = { mse: 0, sqnrDb: null, layers: [{ name: 'fc1/kernel', count: 100352, mse: 0, sqnrDb: null }, { name: 'fc2/kernel', count: 1280, mse: 0, sqnrDb: null }] };
    await runs.update(d.id, { status: 'completed', metrics: { testAccuracy: accuracyOf(d), trainLoss: 0.3, durationMs: 1, backend: 'wasm', weightError } });
  }
}

test('bad targets are refused with the reason (400 problem+json), before the sweep is even read', async () => {
  for (const target of [0, -0.5, 1.06, 'high']) {
    const res = await post('/sweeps/swp_doesnotexist/allocate', { target });
    assert.equal(res.statusCode, 400, `target ${target}`);
    assert.match(res.headers['content-type'] as string, /application\/problem\+json/);
    const p = res.json();
    assert.equal(p.type, `${PROBLEM_BASE}validation`);
    assert.match(JSON.stringify(p), /target/);
  }
  assert.match(JSON.stringify((await post('/sweeps/swp_doesnotexist/allocate', { target: 0 })).json()), /must be above 0/);
  assert.match(JSON.stringify((await post('/sweeps/swp_doesnotexist/allocate', { target: 1.2 })).json()), /at most 1\.05/);
  assert.equal((await post('/sweeps/swp_doesnotexist/allocate', { target: 0.99 })).statusCode, 404);
});

test('a sweep without a sensitivity series is refused: 400 saying so', async () => {
  const acc = SweepAccepted.parse((await post('/sweeps', { name: 'plain', base: { dataset: 'mnist', model: 'mlp' }, vary: { representation: [{ kind: 'fixed', bits: [4] }] } })).json());
  const res = await post(`/sweeps/${acc.id}/allocate`, { target: 0.99 });
  assert.equal(res.statusCode, 400);
  assert.match(res.json().detail, /no sensitivity series \(runs quantizing one layer at a time\); create one with \{"preset": "sensitivity"\}/);
});

test('a sensitivity sweep: 409 while unfinished; then the allocation (fc1 at 2 bits, fc2 at 4) runs once per seed, in the sweep', async () => {
  const acc = SweepAccepted.parse((await post('/sweeps', sensitivity)).json());
  const docs = (await runs.getMany(acc.runs)).map((d) => RunDocument.parse(d));
  // 2 baselines; uniform 2 and 4 bits in both phases; fc1 and fc2 alone at 2 and 4 bits (inference) — per seed.
  assert.equal(docs.length, 2 * (1 + 4 + 4));
  assert.deepEqual([...new Set(docs.map((d) => d.series))].sort(), [
    'fixed/pow2/nearest/inference',
    'fixed/pow2/nearest/inference/layer:fc1',
    'fixed/pow2/nearest/inference/layer:fc2',
    'fixed/pow2/nearest/training',
    'float32/training',
  ]);
  await complete(docs.slice(0, -1));
  const early = await post(`/sweeps/${acc.id}/allocate`, { target: 0.99 });
  assert.equal(early.statusCode, 409);
  assert.match(early.json().detail, /1 sensitivity and uniform run\(s\) .* have not ended yet/);
  await complete(docs.slice(-1));

  const res = await post(`/sweeps/${acc.id}/allocate`, { target: 0.99 });
  assert.equal(res.statusCode, 202, res.body);
  const out = AllocateAccepted.parse(res.json());
  assert.deepEqual(out.allocation.widths, { fc1: 2, fc2: 4 });
  assert.equal(out.allocation.bytes, 100352 / 4 + 8 + 1280 / 2 + 8);
  // Uniform 4 bits kept 0.897 / 0.9 on both seeds: the best uniform width, measured; the allocation is half its bytes.
  assert.deepEqual(out.allocation.bestUniform, { width: 4, bytes: 100352 / 2 + 8 + 1280 / 2 + 8, judged: 'measured' });
  assert.equal(out.allocation.uniform, false);
  assert.ok(Math.abs(out.allocation.predicted.mean - (1 - (1 - 0.894 / 0.9) - (1 - 0.899 / 0.9))) < 1e-12);
  assert.equal(out.family, 'fixed/pow2/nearest');
  assert.deepEqual(out.representation, { kind: 'fixed', range: 'pow2', rounding: 'nearest', granularity: 'layer', bits: 4, bitsPerLayer: { fc1: 2, fc2: 4 } });
  assert.equal(out.runs.length, 2);

  const sweep = SweepDocument.parse((await app.inject({ method: 'GET', url: `/sweeps/${acc.id}` })).json());
  assert.equal(sweep.runs.length, docs.length + 2);
  const allocated = sweep.runs.filter((r) => out.runs.includes(r.id));
  assert.deepEqual(allocated.map((r) => r.config.training.seed).sort(), [1, 2]);
  for (const r of allocated) {
    assert.equal(r.status, 'queued');
    assert.equal(r.config.phase, 'training');
    assert.equal(r.series, 'fixed/pow2/nearest/training/bits:2.4');
    assert.equal(r.baselineId, acc.baselines[String(r.config.training.seed)]);
    assert.equal(r.config.training.trainLimit, 6000, "the sweep's budget");
    assert.ok(await queue.getJob(r.id), 'queued');
  }
  assert.deepEqual(out.queued, out.runs, 'both queued by this call');
  // The same target again: the same config, so the sweep's runs answer and nothing new is queued.
  const again = AllocateAccepted.parse((await post(`/sweeps/${acc.id}/allocate`, { target: 0.99 })).json());
  assert.deepEqual([again.runs, again.queued], [out.runs, []]);
  assert.equal(SweepDocument.parse((await app.inject({ method: 'GET', url: `/sweeps/${acc.id}` })).json()).runs.length, docs.length + 2);
  // Keeping more than the baseline is beyond every allocation (float32 everywhere is 100%): 400 with the reason.
  const strict = await post(`/sweeps/${acc.id}/allocate`, { target: 1.01 });
  assert.equal(strict.statusCode, 400);
  assert.match(strict.json().detail, /no layer can be quantized at the widths measured/);
});

test('bitsPerLayer naming a layer the model does not have is refused at submission, naming it', async () => {
  const res = await post('/experiments', { dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 4, bitsPerLayer: { fc1: 2, conv9: 3 } } });
  assert.equal(res.statusCode, 400);
  const p = res.json();
  assert.match(p.detail, /mlp has no layer "conv9" \(its layers: fc1, fc2\)/);
  assert.ok(JSON.stringify(p.errors ?? p).includes('conv9'));
  const count = await post('/experiments', { dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 4, bitsPerLayer: [2] } });
  assert.equal(count.statusCode, 400);
  assert.match(count.json().detail, /mlp has 2 layers \(fc1, fc2\); bitsPerLayer lists 1 widths/);
});
