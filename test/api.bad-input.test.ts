import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { keysUnder, testEnv } from './helpers/redis.ts';

const TOKEN = 'bad-input-token-0123';
const env = testEnv('api-bad-input', { API_TOKEN: TOKEN, BODY_LIMIT_BYTES: '16384' });
const app = await buildApp({ env, logger: false });
const auth = { authorization: `Bearer ${TOKEN}` };
let baseline: string[] = [];
before(async () => {
  await app.ql.queue.waitUntilReady();
  // BullMQ's own bookkeeping keys may exist from the start; nothing may be added to them.
  baseline = (await keysUnder(env.KEY_PREFIX)).sort();
});
after(async () => {
  await app.close();
  await env.cleanup();
});

const ok = { dataset: 'mnist', model: 'mlp' };
const dict = (bits: number[]) => ({ kind: 'dictionary', bits });
const tenThousand = {
  name: 'huge',
  base: ok,
  vary: {
    representation: Array.from({ length: 25 }, (_, i) => ({ kind: 'dictionary', bits: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], init: ['uniform', 'nonuniform'], refine: i % 21, scope: i < 21 ? 'global' : 'per-layer' })),
    phase: ['training', 'inference'],
    seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  },
};

interface Case {
  name: string;
  method?: 'GET' | 'POST';
  url?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  type: string;
  /** A fragment the problem's detail or issues must mention. */
  says?: RegExp;
  /** The path of the first issue, dotted. */
  at?: string;
}
const random = (samples: number) => ({ kind: 'random', samples, seed: 1 });

const cases: Case[] = [
  { name: 'no token', headers: { authorization: '' }, body: ok, status: 401, type: 'unauthorized' },
  { name: 'wrong token', headers: { authorization: 'Bearer not-the-token' }, body: ok, status: 401, type: 'unauthorized' },
  { name: 'dataset missing', body: { model: 'mlp' }, status: 400, type: 'validation', says: /dataset/ },
  { name: 'dataset of the wrong type', body: { dataset: 5 }, status: 400, type: 'validation', says: /dataset/ },
  { name: 'dataset as a file path', body: { dataset: '../../etc/passwd' }, status: 400, type: 'validation', says: /dataset/ },
  { name: 'epochs as a string', body: { ...ok, training: { epochs: '3' } }, status: 400, type: 'validation', says: /epochs/ },
  { name: 'epochs over the cap', body: { ...ok, training: { epochs: 100000 } }, status: 400, type: 'validation', says: /epochs/ },
  { name: 'batch size over the cap', body: { ...ok, training: { batchSize: 100000 } }, status: 400, type: 'validation', says: /batchSize/ },
  { name: 'unknown top-level field', body: { ...ok, colour: 'red' }, status: 400, type: 'validation', says: /colour/ },
  { name: 'unknown training field', body: { ...ok, training: { epochz: 2 } }, status: 400, type: 'validation', says: /epochz/ },
  { name: 'unknown representation field', body: { ...ok, representation: { kind: 'fixed', bits: 8, fancy: true } }, status: 400, type: 'validation', says: /fancy/ },
  { name: 'fixed bits 0', body: { ...ok, representation: { kind: 'fixed', bits: 0 } }, status: 400, type: 'validation', says: /bits/ },
  { name: 'fixed bits 33', body: { ...ok, representation: { kind: 'fixed', bits: 33 } }, status: 400, type: 'validation', says: /bits/ },
  { name: 'dictionary of 2^20 entries', body: { ...ok, representation: { kind: 'dictionary', bits: 20 } }, status: 400, type: 'validation', says: /2\^10/ },
  { name: 'unknown init', body: { ...ok, representation: { kind: 'dictionary', bits: 4, init: 'random' } }, status: 400, type: 'validation', says: /init/ },
  { name: 'fractionBits without pow2', body: { ...ok, representation: { kind: 'fixed', bits: 8, fractionBits: 4 } }, status: 400, type: 'validation', says: /pow2/ },
  { name: 'compact master of float32 weights', body: { ...ok, training: { master: 'compact' } }, status: 400, type: 'validation', says: /compact representation/, at: 'training.master' },
  { name: 'compact master in the inference phase', body: { ...ok, phase: 'inference', representation: { kind: 'dictionary', bits: 4 }, training: { master: 'compact' } }, status: 400, type: 'validation', says: /phase "training"/, at: 'training.master' },
  { name: 'name too long', body: { ...ok, name: 'x'.repeat(201) }, status: 400, type: 'validation', says: /name/ },
  { name: 'body is an array', body: [ok], status: 400, type: 'validation' },
  { name: 'malformed JSON', raw: '{"dataset": "mnist",', status: 400, type: 'bad-request' },
  { name: 'oversized body', raw: JSON.stringify({ ...ok, name: 'x'.repeat(20000) }), status: 413, type: 'payload-too-large' },
  { name: 'not JSON', raw: 'dataset=mnist', headers: { 'content-type': 'text/plain' }, status: 415, type: 'unsupported-media-type' },
  { name: 'bad Idempotency-Key', body: ok, headers: { 'idempotency-key': 'ä'.repeat(3) }, status: 400, type: 'validation' },
  { name: 'malformed id', method: 'GET', url: '/experiments/bad!id', status: 400, type: 'validation', says: /not a run id/ },
  { name: 'too short id', method: 'GET', url: '/experiments/abc', status: 400, type: 'validation' },
  { name: 'malformed id on cancel', url: '/experiments/..%2F..%2Fx/cancel', status: 400, type: 'validation' },
  { name: 'unknown id', method: 'GET', url: '/experiments/run_doesnotexist', status: 404, type: 'not-found' },
  { name: 'cancel of an unknown id', url: '/experiments/run_doesnotexist/cancel', status: 404, type: 'not-found' },
  { name: 'unknown list filter', method: 'GET', url: '/experiments?status=sleeping', status: 400, type: 'validation', says: /status/ },
  { name: 'unknown query parameter', method: 'GET', url: '/experiments?sort=asc', status: 400, type: 'validation', says: /sort/ },
  { name: 'list limit over the cap', method: 'GET', url: '/experiments?limit=100000', status: 400, type: 'validation', says: /limit/ },
  { name: 'sweep of 10,000 runs', url: '/sweeps', body: tenThousand, status: 400, type: 'sweep-too-large', says: /10010 runs/ },
  { name: 'sweep with an invalid expansion', url: '/sweeps', body: { name: 's', base: ok, vary: { representation: [dict([2, 4, 11])] } }, status: 400, type: 'validation', says: /bits\\":11/ },
  { name: 'sweep with an unknown field', url: '/sweeps', body: { name: 's', base: ok, vary: { representation: [dict([2])], colours: [1] } }, status: 400, type: 'validation', says: /colours/ },
  { name: 'sweep with a bad base', url: '/sweeps', body: { name: 's', base: { ...ok, training: { epochs: 0 } } }, status: 400, type: 'validation', says: /epochs/ },
  { name: 'sweep with too many seeds', url: '/sweeps', body: { name: 's', base: ok, vary: { seeds: Array.from({ length: 21 }, (_, i) => i) } }, status: 400, type: 'validation', says: /seeds/ },
  { name: 'preset that does not exist', url: '/sweeps', body: { preset: 'nature' }, status: 400, type: 'validation', says: /preset/ },
  { name: 'preset overriding the grid', url: '/sweeps', body: { preset: 'paper', base: { phase: 'inference' } }, status: 400, type: 'validation', says: /phase/ },
  { name: 'sweep varying an unknown field path', url: '/sweeps', body: { base: ok, vary: { 'training.colour': [1, 2] } }, status: 400, type: 'validation', at: 'vary.training.colour', says: /not a field of the experiment.*training\.learningRate/ },
  { name: 'sweep varying the seed by its path', url: '/sweeps', body: { base: ok, vary: { 'training.seed': [1, 2] } }, status: 400, type: 'validation', at: 'vary.training.seed', says: /use vary\.seeds/ },
  { name: 'sweep range with min > max', url: '/sweeps', body: { base: ok, vary: { 'training.learningRate': { min: 0.1, max: 0.01 } }, search: random(4) }, status: 400, type: 'validation', at: 'vary.training.learningRate.min', says: /min must not be greater than max/ },
  { name: 'sweep log range from 0', url: '/sweeps', body: { base: ok, vary: { 'training.weightDecay': { min: 0, max: 0.01, log: true } }, search: random(4) }, status: 400, type: 'validation', at: 'vary.training.weightDecay.min', says: /min > 0/ },
  { name: 'sweep range in a grid', url: '/sweeps', body: { base: ok, vary: { 'training.learningRate': { min: 0.01, max: 0.1 } } }, status: 400, type: 'validation', at: 'vary.training.learningRate', says: /random/ },
  { name: 'sweep value out of the field range', url: '/sweeps', body: { base: ok, vary: { 'training.epochs': [1, 1000] } }, status: 400, type: 'validation', at: 'vary.training.epochs.1' },
  { name: 'random search without samples', url: '/sweeps', body: { base: ok, vary: { 'training.epochs': [1, 2] }, search: { kind: 'random' } }, status: 400, type: 'validation', at: 'search.samples' },
  { name: 'random search over the sweep limit', url: '/sweeps', body: { base: ok, vary: { 'training.learningRate': { min: 0.001, max: 0.1 } }, search: random(501) }, status: 400, type: 'validation', at: 'search.samples', says: /501 samples > the sweep limit of 500/ },
  { name: 'stopping rule on a one-run sweep', url: '/sweeps', body: { base: { ...ok, training: { epochs: 3 } }, vary: { representation: [dict([2])] }, stopping: { kind: 'median', warmup: 1 } }, status: 400, type: 'validation', at: 'stopping', says: /at least 2/ },
  { name: 'stopping rule that can never decide', url: '/sweeps', body: { base: { ...ok, training: { epochs: 3 } }, vary: { representation: [dict([2, 4])] }, stopping: { kind: 'asha', minEpochs: 3, reduction: 2 } }, status: 400, type: 'validation', at: 'stopping.minEpochs' },
  { name: 'unknown stopping rule', url: '/sweeps', body: { base: ok, vary: { representation: [dict([2, 4])] }, stopping: { kind: 'hyperband' } }, status: 400, type: 'validation', at: 'stopping.kind' },
  { name: 'unknown sweep id', method: 'GET', url: '/sweeps/swp_doesnotexist', status: 404, type: 'not-found' },
];

for (const c of cases) {
  test(`bad input: ${c.name} -> ${c.status} ${c.type}, nothing queued or stored`, async () => {
    const method = c.method ?? 'POST';
    const headers: Record<string, string> = { ...auth, ...(c.raw !== undefined ? { 'content-type': 'application/json' } : {}), ...c.headers };
    if (headers.authorization === '') delete headers.authorization;
    const res = await app.inject({
      method,
      url: c.url ?? '/experiments',
      headers,
      ...(c.raw !== undefined ? { payload: c.raw } : c.body !== undefined ? { payload: c.body as object } : {}),
    });
    assert.equal(res.statusCode, c.status, res.body);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    const p = res.json();
    assert.equal(p.type, `${PROBLEM_BASE}${c.type}`);
    assert.equal(p.status, c.status);
    assert.equal(typeof p.title, 'string');
    assert.equal(typeof p.detail, 'string');
    if (c.type === 'validation' && c.status === 400 && method === 'POST' && c.body !== undefined) assert.ok(Array.isArray(p.issues) && p.issues.length > 0, 'validation problems carry the issues');
    if (c.says) assert.match(`${p.detail} ${JSON.stringify(p.issues ?? [])}`, c.says);
    if (c.at) assert.equal(p.issues?.[0]?.path?.join('.'), c.at, JSON.stringify(p.issues));

    const counts = await app.ql.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    assert.deepEqual(Object.values(counts).reduce((a, b) => a + b, 0), 0, 'nothing queued');
    // (The per-client count of failed authentications is the one key a refused request may add.)
    assert.deepEqual((await keysUnder(env.KEY_PREFIX)).filter((k) => !k.includes(':authfail:')).sort(), baseline, 'nothing stored');
  });
}
