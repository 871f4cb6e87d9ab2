import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseEnv, ConfigError } from '@quantlab/shared';

test('defaults fill every variable', () => {
  const env = parseEnv({});
  assert.equal(env.REDIS_URL, 'redis://127.0.0.1:6379');
  assert.equal(env.PORT, 3000);
  assert.equal(env.TFJS_BACKEND, 'auto');
  assert.equal(env.NATIVE_THREADS, 1);
  assert.equal(parseEnv({ NATIVE_THREADS: '256', TFJS_BACKEND: 'native' }).NATIVE_THREADS, 256, 'the limit itself is accepted');
  assert.equal(env.API_TOKEN, undefined);
});

for (const [name, value, fragment] of [
  ['PORT', '70000', 'PORT'],
  ['REDIS_URL', 'http://x', 'REDIS_URL'],
  ['TFJS_BACKEND', 'gpu', 'TFJS_BACKEND'],
  ['WORKER_CONCURRENCY', '0', 'WORKER_CONCURRENCY'],
  ['NATIVE_THREADS', '0', 'NATIVE_THREADS'],
  ['NATIVE_THREADS', '257', 'NATIVE_THREADS'],
  ['API_TOKEN', 'short', 'API_TOKEN'],
] as const) {
  test(`a bad ${name} is refused naming the variable`, () => {
    assert.throws(() => parseEnv({ [name]: value }), (e: unknown) => e instanceof ConfigError && e.message.includes(fragment));
  });
}

test('an entry point stops with one line and exit code 2 on a bad value', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('@quantlab/shared').then(m => { m.loadEnvOrExit(); console.log('started'); })"], {
    env: { ...process.env, PORT: 'abc' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0], /PORT/);
});
