import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { testEnv } from './helpers/redis.ts';

const env = testEnv('api-server');
after(() => env.cleanup());

test('server.ts listens on HOST:PORT, logs the URL, and on SIGTERM drains and exits 0', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/api/src/server.ts'], {
    env: { ...process.env, REDIS_URL: env.REDIS_URL, KEY_PREFIX: env.KEY_PREFIX, QUEUE_NAME: env.QUEUE_NAME, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL logged: ${out}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  const { id } = (await (await fetch(`${url}/experiments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"dataset":"mnist"}' })).json()) as { id: string };
  // An open event stream must not keep the process from exiting.
  const stream = await fetch(`${url}/experiments/${id}/events`);
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  const t0 = Date.now();
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.ok(Date.now() - t0 < 10_000);
  assert.match(out, /SIGTERM: draining/);
  for (;;) if ((await reader.read()).done) break; // the stream was ended, not cut
  await assert.rejects(fetch(`${url}/healthz`), 'no longer accepting');
});

test('a bad environment stops the server at start with one line and exit code 2', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/api/src/server.ts'], { env: { ...process.env, PORT: 'eighty' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(err, /^quantlab: invalid environment: PORT: .*\n$/);
});

test('with Redis unreachable, requests get 503 unavailable and /healthz says degraded', async () => {
  const { buildApp } = await import('@quantlab/api');
  const { parseEnv } = await import('@quantlab/shared');
  const app = await buildApp({ env: parseEnv({ REDIS_URL: 'redis://127.0.0.1:1', KEY_PREFIX: 'qltest:unreachable', LOG_LEVEL: 'silent' }), logger: false });
  try {
    const post = await app.inject({ method: 'POST', url: '/experiments', payload: { dataset: 'mnist' } });
    assert.equal(post.statusCode, 503);
    assert.equal(post.json().type, 'https://quantlab.dev/problems/unavailable');
    assert.equal(post.headers['retry-after'], '5');
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 503);
    assert.equal(health.json().status, 'degraded');
    assert.equal((await app.inject({ method: 'GET', url: '/experiments/run_abcdefgh' })).statusCode, 503);
  } finally {
    await app.close();
  }
});
