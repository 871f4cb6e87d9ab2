// Retention is a BullMQ job scheduler on a maintenance queue of its own: with two API processes, each interval's
// round runs once cluster-wide, rounds never overlap, and the run queue holds no maintenance job.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, createRunQueue, ExperimentConfig, maintenanceQueueName, newRunDocument, RunStore } from '@quantlab/shared';
import { testEnv } from './helpers/redis.ts';
import { freePort, killAll, spawnApi, waitUntil, type WorkerProcess } from './helpers/worker.ts';

const EVERY_MS = 1_500;
const env = testEnv('maint-retention', { RETENTION_DAYS: '1', RETENTION_EVERY_MS: String(EVERY_MS) });
const redis = new Redis(env.REDIS_URL);
const procs: WorkerProcess[] = [];
after(async () => {
  await killAll(procs);
  await env.cleanup();
  redis.disconnect();
});

test('two API processes run one retention round per interval between them, never two at once', async () => {
  const store = new RunStore(redis, env.KEY_PREFIX);
  const day = 24 * 60 * 60 * 1000;
  // An expired finished run: the first round removes it.
  const old = { ...newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' }), { createdAt: new Date(Date.now() - 5 * day).toISOString() }) };
  await store.create({ ...old, status: 'failed', finishedAt: new Date(Date.now() - 4 * day).toISOString() });

  const [a, b] = await Promise.all([spawnApi(env, await freePort()), spawnApi(env, await freePort())]);
  procs.push(a, b);
  await waitUntil('the first round to remove the expired run', async () => !(await store.exists(old.id)), 20_000);

  const connection = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const maint = new Queue(maintenanceQueueName(env), { connection, prefix: bullPrefix(env) });
  const runQueue = createRunQueue(env, connection);
  try {
    // Sentinel: wait until several rounds have completed, then look at all of them.
    const rounds = 4;
    const done = await waitUntil(
      `${rounds} retention rounds`,
      async () => {
        const jobs = await maint.getJobs(['completed']);
        return jobs.length >= rounds ? jobs : null;
      },
      (rounds + 4) * EVERY_MS + 20_000,
    );
    const spans = done.map((j) => [j.processedOn!, j.finishedOn!] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) {
      assert.ok(spans[i][0] >= spans[i - 1][1], 'rounds do not overlap');
      // Two processes each running a round per interval would start two rounds within a few ms of each other.
      assert.ok(spans[i][0] - spans[i - 1][0] >= EVERY_MS * 0.6, `rounds ${spans[i - 1][0]} and ${spans[i][0]} are one interval apart, not duplicates`);
    }
    assert.ok(done.every((j) => j.name === 'retention' && j.data.days === 1));
    assert.equal((await maint.getJobSchedulers()).length, 1, 'one scheduler entry, whatever the number of API processes');
    const counts = await runQueue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
    assert.equal(Object.values(counts).reduce((x, y) => x + y, 0), 0, 'the run queue holds runs only');
  } finally {
    await runQueue.close();
    await maint.close();
    connection.disconnect();
  }
});
