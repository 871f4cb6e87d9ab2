import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { FenceLostError, StoppingStore, type JudgedRun, type StoppingRule } from '@quantlab/shared';
import { testEnv } from './helpers/redis.ts';

const env = testEnv('stopping-store');
const redis = new Redis(env.REDIS_URL);
const store = new StoppingStore(redis, env.KEY_PREFIX);
after(async () => {
  await env.cleanup();
  redis.disconnect();
});

let sweeps = 0;
function sweepOf(stopping: StoppingRule, epochs = 10) {
  const sweepId = `swp_t${sweeps++}`;
  return (id: string): JudgedRun => ({ id, sweepId, stopping, epochs });
}

test('median rule: no decision before the warm-up or without enough peers; below the median of the others stops', async () => {
  const run = sweepOf({ kind: 'median', warmup: 2, minPeers: 2 });
  // epoch 1 is warm-up: even the worst run continues
  for (const [id, acc] of [['a', 0.9], ['b', 0.8], ['c', 0.1]] as const) assert.deepEqual(await store.judge(run(id), 1, acc), { stop: false }, `${id} at epoch 1`);
  assert.deepEqual(await store.judge(run('a'), 2, 0.9), { stop: false }, 'no peers yet');
  assert.deepEqual(await store.judge(run('b'), 2, 0.5), { stop: false }, 'one peer < minPeers');
  // c: others at epoch 2 are 0.9 and 0.5, median 0.7; 0.6 is below
  const c = await store.judge(run('c'), 2, 0.6);
  assert.equal(c.stop, true);
  assert.ok(c.stop && c.decision.epoch === 2);
  assert.match(c.stop ? c.decision.reason : '', /median rule: test accuracy 0\.6000 at epoch 2 is below the median 0\.7000 of the 2 other run\(s\)/);
  // d equals the median of a, b, c (0.6) exactly: not below, continues
  assert.deepEqual(await store.judge(run('d'), 2, 0.6), { stop: false });
  // e at the last epoch: training is over, never stopped
  assert.deepEqual(await store.judge({ ...run('e'), epochs: 2 }, 2, 0.0), { stop: false });
});

test('a decision is taken once per epoch report: a repeated report (a resumed run) gets the same answer, and it is kept', async () => {
  const run = sweepOf({ kind: 'median', warmup: 1, minPeers: 1 });
  assert.deepEqual(await store.judge(run('a'), 1, 0.9), { stop: false });
  const first = await store.judge(run('b'), 1, 0.2);
  assert.equal(first.stop, true);
  // Peers that report later do not change a decision already taken, nor does a different accuracy on a repeat.
  assert.equal((await store.judge(run('c'), 1, 0.1)).stop, true);
  assert.deepEqual(await store.judge(run('b'), 1, 0.95), first);
  // Another connection (a restarted worker or API) sees the stop.
  const other = new Redis(env.REDIS_URL);
  try {
    const fresh = new StoppingStore(other, env.KEY_PREFIX);
    assert.deepEqual(await fresh.decisionOf(run('b').sweepId, 'b'), first.stop ? first.decision : null);
    assert.equal(await fresh.decisionOf(run('a').sweepId, 'a'), null);
  } finally {
    other.disconnect();
  }
});

test('successive halving: rungs at minEpochs * reduction^i; at a rung only the top 1/reduction continue', async () => {
  const run = sweepOf({ kind: 'asha', minEpochs: 1, reduction: 2 }, 8);
  // rung 1: the first run is always promoted; then a run must reach the top floor(n/2) of those at the rung
  assert.deepEqual(await store.judge(run('a'), 1, 0.5), { stop: false });
  const b = await store.judge(run('b'), 1, 0.4); // n=2, keep 1: 0.4 < 0.5
  assert.equal(b.stop, true);
  assert.match(b.stop ? b.decision.reason : '', /successive halving: test accuracy 0\.4000 at rung epoch 1 is not in the top 1 of the 2 run\(s\)/);
  assert.deepEqual(await store.judge(run('c'), 1, 0.7), { stop: false }, 'the best so far');
  const d = await store.judge(run('d'), 1, 0.45); // n=4: 0.7 0.5 0.45 0.4, keep 2: needs 0.5
  assert.equal(d.stop, true);
  assert.deepEqual(await store.judge(run('e'), 1, 0.5), { stop: false }, 'ties the threshold: n=5, keep 2, needs 0.5');
  // epoch 3 is not a rung (1, 2, 4): no decision, however bad
  assert.deepEqual(await store.judge(run('a'), 3, 0.01), { stop: false });
  // rung 2 and 4 judge again among those that got there
  assert.deepEqual(await store.judge(run('a'), 2, 0.6), { stop: false });
  assert.equal((await store.judge(run('c'), 2, 0.55)).stop, true);
  assert.deepEqual(await store.judge(run('a'), 4, 0.6), { stop: false });
});

test('many runs reporting the same epoch at once agree: the median rule sees them in one order', async () => {
  const run = sweepOf({ kind: 'median', warmup: 1, minPeers: 1 });
  const accs = Array.from({ length: 40 }, (_, i) => (i * 37) % 40 / 40);
  const verdicts = await Promise.all(accs.map((acc, i) => store.judge(run(`r${i}`), 1, acc)));
  // Whatever the order Redis ran them in, every stop names a median above the run's own accuracy, and the best run
  // is never stopped.
  const stopped = verdicts.flatMap((v, i) => (v.stop ? [{ acc: accs[i], reason: v.decision.reason }] : []));
  assert.ok(stopped.length > 0, 'some runs below the median of those before them stop');
  for (const s of stopped) assert.ok(Number(/the median ([\d.]+)/.exec(s.reason)?.[1]) > s.acc, s.reason);
  assert.equal(verdicts[accs.indexOf(Math.max(...accs))].stop, false);
  const members = await redis.zrange(store.keys.sweepAccuracies(run('x').sweepId), 0, -1);
  assert.equal(members.length, accs.length, 'one accuracy per run and epoch');
});

test('a judge whose job lock is held by another worker writes nothing and says so', async () => {
  const run = sweepOf({ kind: 'median', warmup: 1, minPeers: 1 });
  const lockKey = `${env.KEY_PREFIX}:lock:x`;
  await redis.set(lockKey, 'someone-else');
  await assert.rejects(store.judge(run('z'), 1, 0.5, { lockKey, token: 'mine' }), FenceLostError);
  assert.equal(await redis.exists(store.keys.sweepAccuracies(run('z').sweepId)), 0);
  await redis.set(lockKey, 'mine');
  assert.deepEqual(await store.judge(run('z'), 1, 0.5, { lockKey, token: 'mine' }), { stop: false });
});
