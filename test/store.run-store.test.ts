import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { ARTIFACT_FORMAT, ARTIFACT_FORMAT_V1, CursorError, encodeCursor, ExperimentConfig, FenceLostError, LEGACY_ARTIFACT_FORMAT, newRunDocument, RunDocument, RunStore } from '@quantlab/shared';
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

test('a run keeps its checkpoint until its status is final, and loses it in that same write', async () => {
  for (const final of ['completed', 'failed', 'cancelled', 'stopped'] as const) {
    const doc = newDoc();
    await store.create(doc);
    await store.saveCheckpoint(doc.id, new Uint8Array([1, 2, 3]));
    await store.update(doc.id, { status: 'running' });
    await store.update(doc.id, { status: 'queued' });
    assert.deepEqual([...(await store.loadCheckpoint(doc.id))!], [1, 2, 3], 'running and queued keep it');
    await store.update(doc.id, { status: final });
    assert.equal(await store.loadCheckpoint(doc.id), null, `${final} drops it`);
    await store.delete(doc.id);
  }
});

test('status, dataset and kind indexes follow every write; countByStatus reads them in one round trip', async () => {
  const e = testEnv('run-store-idx');
  const r = new Redis(e.REDIS_URL);
  const s = new RunStore(r, e.KEY_PREFIX);
  try {
    const docs = [newDoc(), newDoc(), newDoc()];
    await s.createMany(docs);
    assert.deepEqual(await s.countByStatus(), { queued: 3, running: 0, completed: 0, failed: 0, cancelled: 0, stopped: 0 });
    await s.update(docs[0].id, { status: 'running' });
    await s.update(docs[1].id, { status: 'running' });
    await s.addEpoch(docs[0].id, epoch(1), 3);
    await s.update(docs[1].id, { status: 'completed' });
    assert.deepEqual(await s.countByStatus(), { queued: 1, running: 1, completed: 1, failed: 0, cancelled: 0, stopped: 0 });
    assert.deepEqual((await s.listIds({ limit: 10, filter: { status: 'completed' } })).ids, [docs[1].id]);
    assert.equal((await s.listIds({ limit: 10, filter: { dataset: 'mnist', kind: 'float32' } })).ids.length, 3);
    assert.deepEqual((await s.listIds({ limit: 10, filter: { dataset: 'cifar10' } })).ids, []);
    assert.equal(await s.delete(docs[0].id), true);
    assert.deepEqual(await s.countByStatus(), { queued: 1, running: 0, completed: 1, failed: 0, cancelled: 0, stopped: 0 });
    assert.equal(await s.update(docs[0].id, { status: 'failed' }), false, 'a late write does not re-create a deleted run');
    assert.equal(await s.exists(docs[0].id), false);
  } finally {
    await e.cleanup();
    r.disconnect();
  }
});

test('a filtered list pages by cursor even when the cursor run has left the filter since', async () => {
  const e = testEnv('run-store-page');
  const r = new Redis(e.REDIS_URL);
  const s = new RunStore(r, e.KEY_PREFIX);
  try {
    const base = Date.now();
    const docs = Array.from({ length: 6 }, (_, i) => newDoc(new Date(base + i)));
    await s.createMany(docs);
    const first = await s.listIds({ limit: 2, filter: { status: 'queued' } });
    assert.deepEqual(first.ids, [docs[5].id, docs[4].id]);
    await s.update(docs[4].id, { status: 'running' }); // the cursor's run is no longer queued
    const second = await s.listIds({ limit: 2, cursor: first.nextCursor, filter: { status: 'queued' } });
    assert.deepEqual(second.ids, [docs[3].id, docs[2].id]);
    // Two filters: the smaller index is read, the other checked on the fields.
    const both = await s.listIds({ limit: 3, filter: { status: 'queued', dataset: 'mnist' } });
    assert.deepEqual(both.ids, [docs[5].id, docs[3].id, docs[2].id]);
    await s.delete(docs[0].id);
    await assert.rejects(s.listIds({ limit: 2, cursor: encodeCursor(docs[0].id), filter: { status: 'queued' } }), CursorError);
    // A cursor that is not base64url decodes to nothing: refused on every path, never read as "from the start".
    for (const cursor of ['%%%', '....', '@@']) {
      await assert.rejects(s.listIds({ limit: 2, cursor }), CursorError, cursor);
      await assert.rejects(s.listIds({ limit: 2, cursor, filter: { status: 'queued' } }), CursorError, cursor);
      await assert.rejects(s.listIds({ limit: 2, cursor, order: docs.map((d) => d.id) }), CursorError, cursor);
    }
  } finally {
    await e.cleanup();
    r.disconnect();
  }
});

test('cancel requests are JSON like every field, and legacy raw values still read', async () => {
  const doc = newDoc();
  await store.create(doc);
  assert.equal(await store.isCancelRequested(doc.id), false);
  assert.equal(await store.requestCancel(doc.id), true);
  assert.equal(await store.isCancelRequested(doc.id), true);
  assert.equal(await redis.hget(store.keys.run(doc.id), 'cancelRequested'), JSON.stringify(true));
  assert.equal(await store.requestCancel('run_does_not_exist'), false, 'no run, nothing written');
  assert.equal(await redis.exists(store.keys.run('run_does_not_exist')), 0);
  assert.equal((await store.get(doc.id))?.status, 'queued', 'the request is not part of the document');
});

test('runs stored before the indexes existed are indexed once at start (ensureIndexes)', async () => {
  const e = testEnv('run-store-backfill');
  const r = new Redis(e.REDIS_URL);
  const s = new RunStore(r, e.KEY_PREFIX);
  try {
    // Write runs the way the store did before it kept indexes: the hash and the runs zset only.
    const docs = [newDoc(), newDoc(), { ...newDoc(), status: 'completed' as const, sweepId: 'swp_legacy01' }];
    for (const { epochs: _e, ...fields } of docs) {
      await r.hset(s.keys.run(fields.id), Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, JSON.stringify(v)])));
      await r.zadd(s.keys.runs, Date.parse(fields.createdAt), fields.id);
    }
    assert.deepEqual(await s.countByStatus(), { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0, stopped: 0 });
    assert.equal(await s.ensureIndexes({ page: 2 }), 3);
    assert.deepEqual(await s.countByStatus(), { queued: 2, running: 0, completed: 1, failed: 0, cancelled: 0, stopped: 0 });
    assert.deepEqual(await s.sweepMembers('swp_legacy01'), [docs[2].id]);
    assert.equal((await s.listIds({ limit: 10, filter: { kind: 'float32' } })).ids.length, 3);
    assert.equal(await s.ensureIndexes(), 0, 'done once');
  } finally {
    await e.cleanup();
    r.disconnect();
  }
});

test('a run stored with the old artifact format name reads with the current one', async () => {
  const doc = newDoc();
  await store.create(doc);
  await redis.hset(store.keys.run(doc.id), 'artifact', JSON.stringify({ bytes: 12, format: LEGACY_ARTIFACT_FORMAT }));
  // The legacy name was only ever written for format version 1 bytes.
  assert.deepEqual((await store.get(doc.id))?.artifact, { bytes: 12, format: ARTIFACT_FORMAT_V1 });
  assert.equal(ARTIFACT_FORMAT, 'quantlab-artifact/2');
  assert.equal(RunDocument.shape.artifact.parse({ bytes: 1, format: LEGACY_ARTIFACT_FORMAT })?.format, LEGACY_ARTIFACT_FORMAT, 'imports of old exports validate');
  assert.throws(() => RunDocument.shape.artifact.parse({ bytes: 1, format: 'something-else' }));
});
