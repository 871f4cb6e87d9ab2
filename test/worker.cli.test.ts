// `quantlab work`: a bad option is one line and exit 2; a worker with --concurrency registers it and stops on SIGTERM.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { listWorkers } from '@quantlab/shared';
import { REDIS_URL, testEnv } from './helpers/redis.ts';
import { waitUntil } from './helpers/worker.ts';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';

const env = testEnv('worker-cli');
after(() => env.cleanup());
const vars = { ...process.env, REDIS_URL, KEY_PREFIX: env.KEY_PREFIX, QUEUE_NAME: env.QUEUE_NAME, TFJS_BACKEND: TEST_BACKEND, LOG_LEVEL: 'silent' };

test('quantlab work --concurrency 0: one line on stderr, exit 2', () => {
  const r = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', 'work', '--concurrency', '0'], { env: vars, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'quantlab: --concurrency must be a positive integer, not "0"\n');
});

test('quantlab work --threads 0: one line on stderr, exit 2', () => {
  const r = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', 'work', '--threads', '0'], { env: vars, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'quantlab: --threads must be a positive integer, not "0"\n');
});

test('quantlab work --concurrency 2 registers with concurrency 2 and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, ['services/cli/bin/quantlab.js', 'work', '--concurrency', '2'], { env: vars, stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const redis = new Redis(REDIS_URL);
  try {
    const w = await waitUntil('the worker to register', async () => (await listWorkers(redis, env.KEY_PREFIX)).find((x) => x.pid === child.pid), 30_000);
    assert.equal(w.concurrency, 2);
    assert.equal(w.backend, TEST_BACKEND_NAME);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.deepEqual(await listWorkers(redis, env.KEY_PREFIX), [], 'it removed itself from the registry');
  } finally {
    child.kill('SIGKILL');
    redis.disconnect();
  }
});
