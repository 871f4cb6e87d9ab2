import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

const TOKEN = 'a-long-enough-secret';
// Every route is tried without a token: more failures than AUTH_FAIL_MAX (api.auth-limits tests that limit).
const env = testEnv('api-auth', { API_TOKEN: TOKEN, AUTH_FAIL_MAX: '1000' });
const app = await buildApp({ env, logger: false });
after(async () => {
  await app.close();
  await env.cleanup();
});

interface Spec {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown> };
}

test('the OpenAPI document lists every route with its schemas', async () => {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(res.statusCode, 200, 'documentation is open');
  const spec = res.json() as Spec;
  assert.equal(spec.openapi, '3.1.0');
  const documented = new Set(Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
  const routes = app.routeTable.filter((r) => !r.hidden).map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
  assert.ok(routes.length >= 13);
  assert.deepEqual([...new Set(routes)].sort(), [...documented].sort());
  for (const name of ['ExperimentConfig', 'RunDocument', 'RunList', 'Problem', 'SweepRequest', 'SweepDocument', 'SweepAccepted', 'PresetInfo']) {
    assert.ok(spec.components.schemas[name] ?? spec.components.schemas[`${name}Input`], `component ${name}`);
  }
  assert.ok(spec.paths['/experiments'].post.responses['202']);
  // every reference resolves to a component
  const refs = [...JSON.stringify(spec).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length > 10);
  for (const ref of refs) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
    assert.ok(m && spec.components.schemas[decodeURIComponent(m[1])], `unresolved ${ref}`);
  }
  const docs = await app.inject({ method: 'GET', url: '/docs/' });
  assert.equal(docs.statusCode, 200);
  assert.match(docs.body, /swagger/i);
});

test('with API_TOKEN every API route but /healthz requires the bearer token', async () => {
  const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as Spec;
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const method of Object.keys(ops)) {
      const url = path.replace('{id}', 'run_abcdefgh');
      for (const headers of [{}, { authorization: 'Bearer wrong-token-of-any-length' }, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }]) {
        const res = await app.inject({ method: method.toUpperCase() as 'GET', url, headers, payload: method === 'post' ? {} : undefined });
        if (path === '/healthz') {
          assert.equal(res.statusCode, 200);
          continue;
        }
        assert.equal(res.statusCode, 401, `${method} ${path} ${JSON.stringify(headers)}`);
        assert.equal(res.json().type, `${PROBLEM_BASE}unauthorized`);
        assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="quantlab"');
      }
    }
  }
  const ok = await app.inject({ method: 'GET', url: '/experiments', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.statusCode, 200);
});

test('the dashboard page loads without a token', async () => {
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /text\/(html|plain)/);
});

test('unknown routes are 404 problems', async () => {
  const res = await app.inject({ method: 'GET', url: '/nope/nothing', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().type, `${PROBLEM_BASE}not-found`);
});
