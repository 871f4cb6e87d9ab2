// Requests that used to stall everyone or slip past the problem+json contract (issue 14, findings 2 and 10): a sweep
// pattern with thousands of fields, slow requests, unbounded event streams, over-long URLs and headers, a dashboard
// that could be framed, run names that rewrite the terminal.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { MODEL_LAYERS, PROBLEM_BASE, SWEEP_LIMITS, expandPattern, type RepresentationPattern } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';
import { sleep } from './helpers/worker.ts';

const env = testEnv('api-attacks', { REQUEST_TIMEOUT_MS: '1000', EVENT_STREAMS_MAX: '3', EVENT_STREAMS_PER_CLIENT_MAX: '2', TRUST_PROXY: '127.0.0.1' });
const app = await buildApp({ env, logger: false, sseHeartbeatMs: 300 });
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as AddressInfo).port;
const url = `http://127.0.0.1:${port}`;
after(async () => {
  await app.close();
  await env.cleanup();
});

const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

/** Sends raw bytes; resolves with everything the server answered before closing. */
function raw(bytes: string, opts: { keepOpenMs?: number } = {}): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    let text = '';
    s.on('data', (d) => (text += d.toString()));
    s.on('close', () => resolve({ text, ms: Date.now() - t0 }));
    s.on('error', reject);
    if (opts.keepOpenMs) setTimeout(() => s.destroy(), opts.keepOpenMs);
  });
}

const bodyOf = (rawText: string) => JSON.parse(rawText.slice(rawText.indexOf('\r\n\r\n') + 4)) as { type: string; status: number };

test('a sweep pattern with 20,000 fields is refused at once, and /healthz answers within 1 s while such requests arrive', async () => {
  const pattern: Record<string, unknown> = { kind: 'fixed' };
  for (let i = 0; i < 20_000; i++) pattern[`f${i}`] = 1;
  const body = JSON.stringify({ base: { dataset: 'mnist', model: 'mlp' }, vary: { representation: [pattern] } });
  assert.ok(body.length < 256 * 1024, 'fits the default body limit');
  const attack = async () => {
    const t0 = Date.now();
    const r = await fetch(`${url}/sweeps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { r, ms: Date.now() - t0, p: (await r.json()) as { type: string; detail: string; issues: unknown[] } };
  };
  const health = async () => {
    const t0 = Date.now();
    const r = await fetch(`${url}/healthz`);
    assert.equal(r.status, 200);
    return Date.now() - t0;
  };
  // One attack after another (on main, one such request alone held the event loop for tens of seconds).
  const sequential = async () => {
    const out = [];
    for (let i = 0; i < 4; i++) out.push(await attack());
    return out;
  };
  const [attacks, healthMs] = await Promise.all([sequential(), (async () => {
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) ms.push(await health(), await sleep(20).then(() => 0));
    return Math.max(...ms);
  })()]);
  for (const a of attacks) {
    assert.equal(a.r.status, 400);
    assert.equal(a.p.type, `${PROBLEM_BASE}validation`);
    assert.match(a.p.detail, new RegExp(`at most ${SWEEP_LIMITS.maxPatternFields} fields`));
    assert.ok(a.p.issues.length <= 20, 'the answer lists a bounded number of issues');
  }
  assert.ok(healthMs < 1_000, `/healthz took ${healthMs} ms during the attack`);
  // At the limit: the largest real representation (a per-layer dictionary, 9 fields) passes the count and queues; a
  // pattern of exactly maxPatternFields fields is judged on its fields, one more is refused for their number.
  const full = { kind: 'dictionary', bits: [2, 4], scope: 'per-layer', init: 'uniform', refine: 0, refitEvery: 'epoch', granularity: 'layer', update: 'refit', bitsPerLayer: { [MODEL_LAYERS.mlp[0]]: 3 } };
  assert.ok(Object.keys(full).length <= SWEEP_LIMITS.maxPatternFields);
  assert.equal(expandPattern(full as RepresentationPattern).length, 2);
  const real = await app.inject({ method: 'POST', url: '/sweeps', payload: { base: { dataset: 'mnist', model: 'mlp', training: { epochs: 1 } }, vary: { representation: [full] } } });
  assert.equal(real.statusCode, 202, real.body);
  const withFields = (n: number) => {
    const p: Record<string, unknown> = { kind: 'fixed', bits: [4, 8], range: 'maxabs', rounding: ['nearest', 'stochastic'] };
    for (let i = 0; Object.keys(p).length < n; i++) p[`x${i}`] = 1;
    return p;
  };
  const countRefusal = new RegExp(`at most ${SWEEP_LIMITS.maxPatternFields} fields`);
  const atLimit = await app.inject({ method: 'POST', url: '/sweeps', payload: { base: { dataset: 'mnist', model: 'mlp' }, vary: { representation: [withFields(SWEEP_LIMITS.maxPatternFields)] } } });
  assert.equal(atLimit.statusCode, 400);
  assert.doesNotMatch(atLimit.json().detail, countRefusal, 'refused for its unknown fields, not for their number');
  const overLimit = await app.inject({ method: 'POST', url: '/sweeps', payload: { base: { dataset: 'mnist', model: 'mlp' }, vary: { representation: [withFields(SWEEP_LIMITS.maxPatternFields + 1)] } } });
  assert.equal(overLimit.statusCode, 400);
  assert.match(overLimit.json().detail, countRefusal);
});

test('REQUEST_TIMEOUT_MS: a client that sends its request too slowly gets 408 problem+json; an event stream is not cut', async () => {
  const slow = await raw('POST /experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"data', { keepOpenMs: 10_000 });
  assert.match(slow.text, /^HTTP\/1\.1 408/);
  assert.match(slow.text, /content-type: application\/problem\+json/i);
  assert.equal(bodyOf(slow.text).type, `${PROBLEM_BASE}request-timeout`);
  assert.ok(slow.ms < 6_000, `closed after ${slow.ms} ms`);

  const run = (await app.inject({ method: 'POST', url: '/experiments', payload: { dataset: 'mnist', model: 'mlp' } })).json().id as string;
  const ac = new AbortController();
  const res = await fetch(`${url}/experiments/${run}/events`, { signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const t0 = Date.now();
  let got = '';
  while (Date.now() - t0 < 2_500) got += new TextDecoder().decode((await reader.read()).value ?? new Uint8Array());
  assert.match(got, /event: snapshot/);
  assert.ok((got.match(/: ping/g) ?? []).length >= 3, 'heartbeats still arrive after REQUEST_TIMEOUT_MS');
  ac.abort();
});

test('event streams are capped per client (429) and per process (503), and a closed stream frees its slot', async () => {
  const run = (await app.inject({ method: 'POST', url: '/experiments', payload: { dataset: 'mnist', model: 'mlp' } })).json().id as string;
  const open: AbortController[] = [];
  const stream = async (client: string) => {
    const ac = new AbortController();
    const r = await fetch(`${url}/experiments/${run}/events`, { signal: ac.signal, headers: { 'x-forwarded-for': client } });
    if (r.status === 200) open.push(ac);
    return { status: r.status, type: r.headers.get('content-type'), body: r.status === 200 ? null : ((await r.json()) as { type: string }) };
  };
  try {
    assert.equal((await stream('10.0.0.1')).status, 200);
    assert.equal((await stream('10.0.0.1')).status, 200);
    const perClient = await stream('10.0.0.1');
    assert.equal(perClient.status, 429);
    assert.equal(perClient.type, PROBLEM_JSON);
    assert.equal((await stream('10.0.0.2')).status, 200, 'another client may open one');
    const full = await stream('10.0.0.3');
    assert.equal(full.status, 503, 'EVENT_STREAMS_MAX reached');
    assert.equal(full.body?.type, `${PROBLEM_BASE}unavailable`);
    open.shift()!.abort();
    let again: Awaited<ReturnType<typeof stream>> | null = null;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      await sleep(50);
      again = await stream('10.0.0.3');
    }
    assert.equal(again?.status, 200, 'the closed stream gave its slot back');
  } finally {
    for (const ac of open) ac.abort();
  }
});

test('a URL parameter over the limit is 414 and headers over the limit are 431, both problem+json', async () => {
  // Every method: a GET matches no API route and falls to the dashboard's catch-all, which must answer the same.
  for (const [method, path] of [['DELETE', `/experiments/${'a'.repeat(201)}`], ['GET', `/experiments/${'a'.repeat(201)}`], ['GET', `/sweeps/${'a'.repeat(300)}/export`], ['GET', `/${'a'.repeat(5000)}`], ['POST', `/x/${'a'.repeat(300)}`]] as const) {
    const long = await app.inject({ method, url: path });
    assert.equal(long.statusCode, 414, `${method} ${path.slice(0, 30)}…`);
    assert.equal(long.headers['content-type'], PROBLEM_JSON);
    assert.equal(long.json().type, `${PROBLEM_BASE}uri-too-long`);
  }
  const atLimit = await app.inject({ method: 'GET', url: `/experiments/${'a'.repeat(200)}` });
  assert.equal(atLimit.statusCode, 400, 'at the limit the route is found and its schema refuses the id');
  const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
  assert.match(big.text, /^HTTP\/1\.1 431/);
  assert.match(big.text, /content-type: application\/problem\+json/i);
  assert.equal(bodyOf(big.text).type, `${PROBLEM_BASE}headers-too-large`);
});

test('the dashboard is sent with a Content-Security-Policy and may not be framed', async () => {
  const page = await app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  const asset = await app.inject({ method: 'GET', url: '/index.html' });
  assert.equal(asset.headers['x-frame-options'], 'DENY');
});

test('the CLI shows control characters in run names and errors as escapes', async () => {
  const name = 'evil\x1b[2J\x1b[31mRED\rfake\nline\u202egnp.exe';
  const r = await app.inject({ method: 'POST', url: '/experiments', payload: { dataset: 'mnist', model: 'mlp', name } });
  assert.equal(r.statusCode, 202);
  const id = r.json().id as string;
  const cli = (args: string[]) =>
    new Promise<{ stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ['services/cli/bin/quantlab.js', ...args], { env: { ...process.env, QUANTLAB_URL: url }, timeout: 30_000 }, (_e, stdout, stderr) => resolve({ stdout, stderr })),
    );
  for (const args of [['ls'], ['status', id]]) {
    const { stdout } = await cli(args);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(stdout, /[\x1b\r\u202e]/, `${args[0]} prints no control character`);
    assert.ok(stdout.includes('evil\\x1b[2J\\x1b[31mRED\\x0dfake\\x0aline\\u202egnp.exe'), `${args[0]} shows them escaped: ${stdout}`);
  }
});
