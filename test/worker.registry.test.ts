// The worker registry: live entries are listed, a worker that stops heartbeating (a killed process) drops out by TTL.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { WorkerRegistration, keysFor, listWorkers } from '@quantlab/shared';
import { REDIS_URL, testEnv } from './helpers/redis.ts';
import { sleep } from './helpers/worker.ts';

const env = testEnv('worker-registry');
const redis = new Redis(REDIS_URL);
after(async () => {
  await env.cleanup();
  redis.disconnect();
});

const info = (id: string) => ({ id, host: 'h', pid: 1, backend: 'wasm', datasets: ['mnist' as const], concurrency: 1, currentRuns: [], startedAt: new Date().toISOString() });

test('live workers are listed with their current runs; a silent one expires and is pruned; stop() removes at once', async () => {
  const alive = new WorkerRegistration(redis, env.KEY_PREFIX, info('w-alive'), 200);
  const silent = new WorkerRegistration(redis, env.KEY_PREFIX, info('w-silent'), 200);
  await alive.start();
  await silent.beat(); // one beat, no heartbeat after it: as if the process were killed
  await alive.update({ currentRuns: ['run_1'] });
  assert.deepEqual((await listWorkers(redis, env.KEY_PREFIX)).map((w) => [w.id, w.currentRuns]), [
    ['w-alive', ['run_1']],
    ['w-silent', []],
  ]);

  await sleep(1_300); // past the 1 s minimum TTL; the live one kept beating every 200 ms
  const live = await listWorkers(redis, env.KEY_PREFIX);
  assert.deepEqual(live.map((w) => w.id), ['w-alive']);
  assert.ok(Date.now() - Date.parse(live[0].lastSeen) < 1_000);
  assert.deepEqual(await redis.smembers(keysFor(env.KEY_PREFIX).workers), ['w-alive'], 'the expired id was pruned from the set');

  await alive.stop();
  assert.deepEqual(await listWorkers(redis, env.KEY_PREFIX), []);
});
