// The API process is killed and started again during a run: the run lives in Redis, not in the API, so nothing is
// lost and the client's polling resumes against the new process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunDocument } from '@quantlab/shared';
import { testEnv } from './helpers/redis.ts';
import { freePort, killAll, sleep, spawnApi, spawnWorker } from './helpers/worker.ts';
import { TEST_BACKEND } from './helpers/backend.ts';

test('restart the API during a run: nothing lost, polling resumes', { timeout: 120_000 }, async () => {
  const env = testEnv('fault-api', { TFJS_BACKEND: TEST_BACKEND });
  const port = await freePort();
  let api = await spawnApi(env, port);
  const worker = await spawnWorker(env);
  try {
    const res = await fetch(`${api.url}/experiments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 'mnist', model: 'mlp', training: { epochs: 4, trainLimit: 3000, seed: 5 } }),
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };

    // A polling client that rides out connection errors, as the dashboard and the CLI do.
    let restarted = false;
    let restarting: Promise<void> | null = null;
    let failures = 0;
    let before: RunDocument | null = null;
    let doc: RunDocument | null = null;
    const until = Date.now() + 100_000;
    while (Date.now() < until) {
      try {
        doc = (await (await fetch(`${api.url}/experiments/${id}`)).json()) as RunDocument;
      } catch {
        failures++;
        await sleep(200);
        continue;
      }
      if (!restarted && doc.epochs.length >= 1) {
        before = doc;
        api.child.kill('SIGKILL');
        await api.exited;
        restarted = true;
        // The new process comes up while the client keeps polling (and failing) in the meantime.
        restarting = sleep(1_000).then(async () => {
          api = await spawnApi(env, port);
        });
        continue;
      }
      if (doc.status === 'completed' || doc.status === 'failed') break;
      await sleep(200);
    }
    await restarting;
    assert.ok(restarted && before, 'the API was restarted mid-run');
    assert.ok(failures > 0, 'the client saw the API down');
    assert.equal(before.status, 'running');
    assert.ok(doc);
    assert.equal(doc.status, 'completed', doc.error?.message);
    assert.deepEqual(doc.epochs.map((e) => e.epoch), [1, 2, 3, 4]);
    assert.deepEqual(doc.epochs.slice(0, before.epochs.length), before.epochs, 'epochs recorded before the restart are unchanged');
    assert.equal(doc.attempts, 1, 'the worker was not disturbed');
    assert.ok(doc.metrics.testAccuracy! > 0.8);
  } finally {
    await killAll([api, worker]);
    await env.cleanup();
  }
});
