// Issue 21: Bull Board at /admin/queues behind the API token (Bearer, or the short-lived cookie POST /admin/session
// sets for browsers), read-only unless ADMIN_QUEUES_WRITE=true.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@quantlab/api/app';
import { ADMIN_COOKIE_TTL_MS, mintAdminCookie } from '@quantlab/api/plugins/auth';
import { testEnv } from './helpers/redis.ts';

const TOKEN = 'admin-queues-token';
const env = testEnv('admin-queues', { API_TOKEN: TOKEN });
const bearer = { authorization: `Bearer ${TOKEN}` };
let app: FastifyInstance;

before(async () => {
  app = await buildApp({ env, logger: false });
});
after(async () => {
  await app?.close();
  await env.cleanup();
});

test('/admin/queues answers 401 problem+json without the token and 200 with the Bearer token', async () => {
  for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
    const anon = await app.inject({ method: 'GET', url });
    assert.equal(anon.statusCode, 401, url);
    assert.match(String(anon.headers['content-type']), /^application\/problem\+json/);
    assert.equal(anon.headers['www-authenticate'], 'Bearer realm="quantlab"');
    assert.equal((await app.inject({ method: 'GET', url, headers: { authorization: 'Bearer wrong-token-x' } })).statusCode, 401);
  }
  const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: bearer });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(page.body, /quantlab queue/);
  const api = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: bearer });
  assert.equal(api.statusCode, 200);
  const queues = api.json().queues as { name: string; readOnlyMode: boolean }[];
  assert.deepEqual(queues.map((q) => [q.name, q.readOnlyMode]), [[env.QUEUE_NAME, true]]);
});

test('a browser trades the token for a short-lived cookie that opens the queue view and nothing else', async () => {
  assert.equal((await app.inject({ method: 'POST', url: '/admin/session' })).statusCode, 401);
  const session = await app.inject({ method: 'POST', url: '/admin/session', headers: bearer });
  assert.equal(session.statusCode, 204);
  const setCookie = String(session.headers['set-cookie']);
  assert.match(setCookie, new RegExp(`^quantlab_admin=[0-9a-z]+\\.[\\w-]+; Path=/admin; Max-Age=${ADMIN_COOKIE_TTL_MS / 1000}; HttpOnly; SameSite=Strict$`));
  const cookie = setCookie.split(';')[0];
  assert.equal((await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie: `other=1; ${cookie}` } })).statusCode, 200);
  // A cookie cannot mint the next one (it expires), and it is not the token: the API proper still wants the header.
  assert.equal((await app.inject({ method: 'POST', url: '/admin/session?x=1', headers: { cookie } })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/experiments', headers: { cookie } })).statusCode, 401);
  // Expired, or signed with another secret: refused.
  const expired = mintAdminCookie(TOKEN, Date.now() - ADMIN_COOKIE_TTL_MS - 1000);
  assert.equal((await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: `quantlab_admin=${expired}` } })).statusCode, 401);
  const forged = mintAdminCookie('another-secret');
  assert.equal((await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: `quantlab_admin=${forged}` } })).statusCode, 401);
  const logout = await app.inject({ method: 'DELETE', url: '/admin/session' });
  assert.equal(logout.statusCode, 204);
  assert.match(String(logout.headers['set-cookie']), /^quantlab_admin=; Path=\/admin; Max-Age=0;/);
});

test('read-only by default: Bull Board refuses to change the queue; ADMIN_QUEUES_WRITE=true allows it', async () => {
  const pause = await app.inject({ method: 'PUT', url: `/admin/queues/api/queues/${env.QUEUE_NAME}/pause`, headers: bearer });
  assert.equal(pause.statusCode, 405);
  assert.equal(await app.ql.queue.isPaused(), false);

  const writable = testEnv('admin-queues-write', { API_TOKEN: TOKEN, ADMIN_QUEUES_WRITE: 'true' });
  const app2 = await buildApp({ env: writable, logger: false });
  try {
    const res = await app2.inject({ method: 'PUT', url: `/admin/queues/api/queues/${writable.QUEUE_NAME}/pause`, headers: bearer });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(await app2.ql.queue.isPaused(), true);
  } finally {
    await app2.close();
    await writable.cleanup();
  }
});

test('Bull Board and the session route stay out of the OpenAPI document', async () => {
  const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
  assert.deepEqual(Object.keys(spec.paths).filter((p) => p.startsWith('/admin')), []);
});
