// Jobs BullMQ fails without the handler (issue 14, findings 1 and 9): a job over the stall limit (its worker was
// OOM-killed again and again) and a job whose data is not JSON. Either way the run ends failed with the reason, the
// runs waiting for it as their baseline fail instead of waiting forever, and cancel and delete work on such jobs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { bullPrefix, producerConnection, sweepStatus, RUN_STATUSES, type RunStatus } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { keysUnder, testEnv } from './helpers/redis.ts';
import { harness, killAll, spawnWorker, waitUntil, type WorkerProcess } from './helpers/worker.ts';

// MAX_STALLED_COUNT=0: the first stall is over the limit (the third OOM kill, with the default of 2).
const env = testEnv('queue-failures', { MAX_STALLED_COUNT: '0', LOCK_DURATION_MS: '1000', STALLED_INTERVAL_MS: '500', TFJS_BACKEND: 'wasm' });
const h = harness(env);
const app = await buildApp({ env, logger: false });
const workers: WorkerProcess[] = [];
after(async () => {
  await killAll(workers);
  await app.close();
  await h.close();
  await env.cleanup();
});

const CONFIG = { dataset: 'mnist', model: 'mlp', training: { epochs: 1, trainLimit: 500, testLimit: 200 } } as const;
const jobKey = (id: string) => `${bullPrefix(env)}:${env.QUEUE_NAME}:${id}`;

/** Takes the run's job as a worker would and then dies: the lock is never renewed, so the job stalls. */
async function takeAndDie(runId: string): Promise<void> {
  const connection = producerConnection(env.REDIS_URL, { maxRetriesPerRequest: null, commandTimeout: undefined });
  const doomed = new Worker(env.QUEUE_NAME, null, { connection, prefix: bullPrefix(env), autorun: false, lockDuration: 1000 });
  try {
    const job = await doomed.getNextJob(randomBytes(8).toString('hex'));
    assert.equal(job?.id, runId, 'the doomed worker holds the run');
    await h.store.update(runId, { status: 'running', workerId: 'oom-killed-worker', attempts: 1 });
  } finally {
    await doomed.close(true);
    connection.disconnect();
  }
}

test('a job over the stall limit ends its run failed; the runs waiting for it as baseline fail too; the sweep finishes', { timeout: 60_000 }, async () => {
  const baseline = await h.submit(CONFIG);
  await takeAndDie(baseline);
  const dependant = await h.submit({ ...CONFIG, phase: 'inference', representation: { kind: 'fixed', bits: 8 } }, { baselineId: baseline });
  workers.push(await spawnWorker(env));

  const b = await h.waitForStatus(baseline, ['failed', 'completed', 'cancelled'], 30_000);
  assert.equal(b.status, 'failed');
  assert.match(b.error!.message, /stalled more than allowable limit/);
  assert.equal(b.workerId, null, 'no dead worker is named as its owner');
  const d = await h.waitForStatus(dependant, ['failed', 'completed', 'cancelled'], 30_000);
  assert.equal(d.status, 'failed');
  assert.match(d.error!.message, new RegExp(`baseline run ${baseline} failed`));

  const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
  for (const doc of [b, d]) counts[doc.status]++;
  assert.equal(sweepStatus(counts), 'failed', 'a sweep of these runs is finished');
  // A finished run: cancel is refused (409), retry queues a new attempt.
  assert.equal((await app.inject({ method: 'POST', url: `/experiments/${baseline}/cancel` })).statusCode, 409);
  assert.equal((await app.inject({ method: 'POST', url: `/experiments/${baseline}/retry` })).statusCode, 202);
});

test('a job whose data is not JSON: cancel and delete work, and a worker fails its run once with the reason', { timeout: 60_000 }, async () => {
  await h.queue.pause(); // the worker is up: keep it from taking the jobs before their data is spoiled
  const [toCancel, toDelete, toRun] = [await h.submit(CONFIG), await h.submit(CONFIG), await h.submit(CONFIG)];
  for (const id of [toCancel, toDelete, toRun]) await h.redis.hset(jobKey(id), 'data', '{not json');

  const cancel = await app.inject({ method: 'POST', url: `/experiments/${toCancel}/cancel` });
  assert.equal(cancel.statusCode, 200, cancel.body);
  assert.equal(cancel.json().status, 'cancelled');
  assert.equal(await h.queue.getJob(toCancel), undefined, 'its job is gone');

  const del = await app.inject({ method: 'DELETE', url: `/experiments/${toDelete}` });
  assert.equal(del.statusCode, 204, del.body);
  assert.deepEqual((await keysUnder(env.KEY_PREFIX)).filter((k) => k.includes(toDelete)), [], 'no key of the deleted run is left');

  await h.queue.resume();
  const done = await h.waitForStatus(toRun, ['failed', 'completed', 'cancelled'], 30_000);
  assert.equal(done.status, 'failed');
  assert.match(done.error!.message, /not valid JSON/);
  await waitUntil('the job to fail', async () => (await h.queue.getJobState(toRun)) === 'failed', 5_000);
  assert.equal((await h.queue.getJob(toRun))!.stalledCounter, 0, 'failed at once, not after stalling');
});

