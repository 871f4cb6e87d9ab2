import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { ExperimentConfig, FenceLostError, newRunDocument, RunStore, type RunDocument } from '@quantlab/shared';
import { testEnv, keysUnder } from './helpers/redis.ts';

const env = testEnv('run-store');
const redis = new Redis(env.REDIS_URL);
const store = new RunStore(redis, env.KEY_PREFIX);
after(async () => {
  await env.cleanup();
  redis.disconnect();
});

function newDoc(createdAt = new Date()): RunDocument {
  return newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' }), { createdAt: createdAt.toISOString() });
}

const epoch = (n: number) => ({ epoch: n, trainLoss: 1 / n, trainAccuracy: 0.5, testAccuracy: 0.6, durationMs: 10, imagesPerSec: 100 });

test('a run document round-trips with its epochs in order, each epoch once', async () => {
  const doc = newDoc();
  await store.create(doc);
  await store.addEpoch(doc.id, epoch(2), 3);
  await store.addEpoch(doc.id, epoch(1), 3);
  await store.addEpoch(doc.id, { ...epoch(2), trainLoss: 0.25 }, 3); // a resumed run writes epoch 2 again
  const got = await store.get(doc.id);
  assert.ok(got);
  assert.deepEqual(got.config, doc.config);
  assert.deepEqual(got.epochs.map((e) => e.epoch), [1, 2]);
  assert.equal(got.epochs[1].trainLoss, 0.25);
  assert.deepEqual(got.progress, { epoch: 2, epochs: 3, fraction: 2 / 3 });
});

test('fenced writes succeed while the lock is held and fail once it is lost', async () => {
  const doc = newDoc();
  await store.create(doc);
  const fence = { lockKey: `${env.KEY_PREFIX}:test-lock:${doc.id}`, token: 'token-a' };
  await redis.set(fence.lockKey, 'token-a');
  await store.update(doc.id, { status: 'running' }, fence);
  await redis.set(fence.lockKey, 'token-b'); // another worker took the job
  await assert.rejects(store.update(doc.id, { status: 'completed' }, fence), FenceLostError);
  await assert.rejects(store.addEpoch(doc.id, epoch(1), 1, fence), FenceLostError);
  await assert.rejects(store.setArtifact(doc.id, new Uint8Array([1, 2, 3]), fence), FenceLostError);
  const got = await store.get(doc.id);
  assert.equal(got?.status, 'running');
  assert.equal(got?.epochs.length, 0);
  assert.equal(await store.getArtifact(doc.id), null);
});

test('listing is newest first and the cursor pages through without repeats, even with runs added meanwhile', async () => {
  const base = Date.now() + 1e9; // newer than the other tests' runs
  const docs = Array.from({ length: 7 }, (_, i) => newDoc(new Date(base + i)));
  for (const d of docs) await store.create(d);
  const first = await store.listIds({ limit: 3 });
  assert.deepEqual(first.ids, [docs[6].id, docs[5].id, docs[4].id]);
  await store.create(newDoc(new Date(base + 100))); // lands on top: must not shift the next page
  const second = await store.listIds({ limit: 3, cursor: first.nextCursor });
  assert.deepEqual(second.ids, [docs[3].id, docs[2].id, docs[1].id]);
});

test('delete removes every key of a run', async () => {
  const doc = newDoc();
  await store.create(doc);
  await store.addEpoch(doc.id, epoch(1), 1);
  await store.setArtifact(doc.id, new Uint8Array(16));
  await store.saveCheckpoint(doc.id, new Uint8Array(16));
  await store.delete(doc.id);
  const left = (await keysUnder(env.KEY_PREFIX)).filter((k) => k.includes(doc.id));
  assert.deepEqual(left, []);
  assert.equal(await store.get(doc.id), null);
});
