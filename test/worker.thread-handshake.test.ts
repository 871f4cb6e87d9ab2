// The training thread and the worker's main thread take turns at each epoch: the thread does not train epoch N+1
// before the main thread has handled epoch N (stored it, checkpointed it, judged it by the sweep's rule), so a stop
// decided on epoch N applies before epoch N+1 however slow the main thread's Redis writes are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentConfig } from '@quantlab/shared';
import { StopFlag, TrainingPool } from '@quantlab/worker/threads/pool';
import { TEST_BACKEND } from './helpers/backend.ts';

const config = ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', training: { epochs: 6, trainLimit: 300, testLimit: 100, batchSize: 50, seed: 3 } });

test('a stop decided slowly on epoch 1 still ends the run after epoch 1; the thread waits for each epoch to be handled', { timeout: 60_000 }, async () => {
  const pool = new TrainingPool(1, { backend: TEST_BACKEND, threads: 1 });
  try {
    await pool.ready();
    const stop = new StopFlag();
    const handled: number[] = [];
    let trainedWhileHandling = 0;
    let handling = false;
    const outcome = await pool.train({ config, dataDir: './data' }, stop, {
      onProgress: async () => {
        if (handling) trainedWhileHandling++;
      },
      onEpoch: async (epoch) => {
        handling = true;
        // As a loaded Redis would: the epoch's writes and the verdict take far longer than an epoch of this run.
        await new Promise((r) => setTimeout(r, 400));
        handled.push(epoch.epoch);
        if (epoch.epoch === 1) stop.set('stopped');
        handling = false;
      },
    });
    assert.equal(outcome.status, 'stopped');
    assert.deepEqual(outcome.epochs.map((e) => e.epoch), [1], 'no epoch trained past the verdict');
    assert.deepEqual(handled, [1]);
    assert.equal(trainedWhileHandling, 0, 'no progress reported while the main thread handled an epoch');

    // Without a stop the run goes through every epoch, each handled before the next.
    const all: number[] = [];
    const done = await pool.train({ config, dataDir: './data', progressEveryMs: 0 }, new StopFlag(), {
      onProgress: async () => {},
      onEpoch: async (epoch) => {
        await new Promise((r) => setTimeout(r, 50));
        all.push(epoch.epoch);
      },
    });
    assert.equal(done.status, 'completed');
    assert.deepEqual(all, [1, 2, 3, 4, 5, 6]);
  } finally {
    await pool.close();
  }
});
