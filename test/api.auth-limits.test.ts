// Issue 14, finding 5: failed authentications are limited per client (AUTH_FAIL_MAX) and logged, the token is long
// enough to resist guessing, reads have a limit of their own, X-Forwarded-For counts only from trusted proxies, and
// the API does not listen on the network without a token unless told to.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ConfigError, PROBLEM_BASE, listenRefusal, parseEnv } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

const TOKEN = 'auth-limits-token-0123456789';
const envs: { cleanup(): Promise<void> }[] = [];
const apps: { close(): Promise<unknown> }[] = [];
after(async () => {
  for (const a of apps) await a.close();
  for (const e of envs) await e.cleanup();
});

async function app(name: string, vars: Record<string, string>, logs?: string[]) {
  const env = testEnv(name, vars);
  envs.push(env);
  const a = await buildApp({ env, ...(logs ? { logStream: { write: (l: string) => void logs.push(l) } } : { logger: false }) });
  apps.push(a);
  return a;
}

test('defaults: AUTH_FAIL_MAX 20, reads unlimited, no proxy trusted; API_TOKEN needs 16 characters', () => {
  const env = parseEnv({});
  assert.equal(env.AUTH_FAIL_MAX, 20);
  assert.equal(env.RATE_LIMIT_READ_MAX, 0);
  assert.equal(env.TRUST_PROXY, false);
  assert.throws(() => parseEnv({ API_TOKEN: 'x'.repeat(15) }), (e: unknown) => e instanceof ConfigError && /API_TOKEN.*16/.test(e.message));
  assert.equal(parseEnv({ API_TOKEN: 'x'.repeat(16) }).API_TOKEN, 'x'.repeat(16));
});

test('over AUTH_FAIL_MAX failures a client gets 429 without a valid token; the valid token and other clients are unaffected; failures are logged', async () => {
  const logs: string[] = [];
  const a = await app('auth-fail', { API_TOKEN: TOKEN, AUTH_FAIL_MAX: '3', LOG_LEVEL: 'warn' }, logs);
  const attacker = '10.0.0.66';
  const get = (auth?: string, remoteAddress = attacker) =>
    a.inject({ method: 'GET', url: '/experiments', remoteAddress, headers: auth ? { authorization: `Bearer ${auth}` } : {} });
  for (let i = 0; i < 3; i++) assert.equal((await get('wrong-token-guess-' + i)).statusCode, 401, `failure ${i + 1} of 3 is a 401`);
  const limited = await get('wrong-token-guess-x');
  assert.equal(limited.statusCode, 429);
  assert.equal(limited.headers['content-type'], 'application/problem+json; charset=utf-8');
  assert.equal(limited.json().type, `${PROBLEM_BASE}rate-limited`);
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  assert.equal((await get()).statusCode, 429, 'no token at all: also limited');
  assert.equal((await get(TOKEN)).statusCode, 200, 'the valid token from the same client still works');
  assert.equal((await get('wrong-token-guess-y', '10.0.0.7')).statusCode, 401, 'another client has its own count');
  assert.equal((await a.inject({ method: 'GET', url: '/healthz', remoteAddress: attacker })).statusCode, 200, '/healthz stays open');
  const lines = logs.map((l) => JSON.parse(l) as { msg: string; client?: string });
  assert.ok(lines.some((l) => l.msg === 'authentication failed' && l.client === attacker), 'the first failure is logged');
  assert.ok(lines.some((l) => /over the limit/.test(l.msg) && l.client === attacker), 'crossing the limit is logged');
  assert.ok(lines.filter((l) => l.client === attacker).length <= 3, 'not one line per attempt');
});

test('RATE_LIMIT_READ_MAX limits reads per client; /healthz is never limited', async () => {
  const a = await app('read-limit', { RATE_LIMIT_READ_MAX: '3' });
  for (let i = 0; i < 3; i++) assert.equal((await a.inject({ method: 'GET', url: '/experiments' })).statusCode, 200);
  const r = await a.inject({ method: 'GET', url: '/experiments' });
  assert.equal(r.statusCode, 429);
  assert.equal(r.json().type, `${PROBLEM_BASE}rate-limited`);
  for (let i = 0; i < 5; i++) assert.equal((await a.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  assert.equal((await a.inject({ method: 'POST', url: '/experiments', payload: { dataset: 'mnist', model: 'mlp' } })).statusCode, 202, 'writes are not counted as reads');
});

test('X-Forwarded-For is believed only from TRUST_PROXY: spoofing it does not escape the limit', async () => {
  const open = await app('xff-untrusted', { RATE_LIMIT_READ_MAX: '2' });
  const spoof = (a: typeof open, ip: string) => a.inject({ method: 'GET', url: '/experiments', remoteAddress: '10.1.1.1', headers: { 'x-forwarded-for': ip } });
  assert.equal((await spoof(open, '1.1.1.1')).statusCode, 200);
  assert.equal((await spoof(open, '2.2.2.2')).statusCode, 200);
  assert.equal((await spoof(open, '3.3.3.3')).statusCode, 429, 'one client whatever the header says');
  const behind = await app('xff-trusted', { RATE_LIMIT_READ_MAX: '2', TRUST_PROXY: '10.1.1.1' });
  for (const ip of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) assert.equal((await spoof(behind, ip)).statusCode, 200, `${ip} is its own client behind the trusted proxy`);
});

test('no API_TOKEN: the API refuses a non-loopback HOST unless ALLOW_NO_AUTH=1', () => {
  assert.match(listenRefusal(parseEnv({ HOST: '0.0.0.0' }))!, /API_TOKEN/);
  assert.equal(listenRefusal(parseEnv({ HOST: '0.0.0.0', ALLOW_NO_AUTH: '1' })), null);
  assert.equal(listenRefusal(parseEnv({ HOST: '0.0.0.0', API_TOKEN: TOKEN })), null);
  for (const host of ['127.0.0.1', 'localhost', '::1']) assert.equal(listenRefusal(parseEnv({ HOST: host })), null);
  const env = { ...process.env, HOST: '0.0.0.0', PORT: '0', API_TOKEN: '', ALLOW_NO_AUTH: '' };
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'services/api/src/server.ts'], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without API_TOKEN/);
});
