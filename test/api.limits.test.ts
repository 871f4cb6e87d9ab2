import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

// Rate limits on (every write route must accept the plugin's route config) and CORS from CORS_ORIGIN.
const env = testEnv('api-limits', { RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000', CORS_ORIGIN: 'http://lab.example' });
const app = await buildApp({ env, logger: false });
after(async () => {
  await app.close();
  await env.cleanup();
});

test('writes are rate limited per client; reads are not', async () => {
  const post = () => app.inject({ method: 'POST', url: '/experiments', payload: { dataset: 'mnist', model: 'mlp' } });
  assert.equal((await post()).statusCode, 202);
  assert.equal((await post()).statusCode, 202);
  const limited = await post();
  assert.equal(limited.statusCode, 429);
  assert.equal(limited.json().type, `${PROBLEM_BASE}rate-limited`);
  assert.ok(Number(limited.headers['retry-after']) > 0);
  for (let i = 0; i < 5; i++) assert.equal((await app.inject({ method: 'GET', url: '/experiments' })).statusCode, 200);
  assert.equal(await app.ql.runs.redis.zcard(app.ql.runs.keys.runs), 2, 'the refused write stored nothing');
});

test('CORS allows the configured origin only', async () => {
  const ok = await app.inject({ method: 'OPTIONS', url: '/experiments', headers: { origin: 'http://lab.example', 'access-control-request-method': 'POST' } });
  assert.equal(ok.headers['access-control-allow-origin'], 'http://lab.example');
  const other = await app.inject({ method: 'GET', url: '/experiments', headers: { origin: 'http://evil.example' } });
  assert.equal(other.headers['access-control-allow-origin'], undefined);
});
