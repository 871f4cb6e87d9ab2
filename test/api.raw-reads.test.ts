// server.ts answers reads with the store's rendered JSON (validateResponses off); the tests' apps build documents and
// validate them. Both must send the same documents, and a finished run's rendered copy must follow every change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentConfig, newId, newRunDocument, RunDocument, type RunStatus } from '@quantlab/shared';
import { readPaths } from './helpers/read-paths.ts';

const { raw, checked } = await readPaths('api-raw-reads');
const store = checked.ql.runs;

function finished(status: RunStatus, acc: number, extra: Partial<RunDocument> = {}): RunDocument {
  const doc = newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' }), { sweepId: extra.sweepId ?? null, baselineId: extra.baselineId ?? null });
  return { ...doc, status, finishedAt: new Date().toISOString(), metrics: { ...doc.metrics, testAccuracy: acc }, epochs: [{ epoch: 1, trainLoss: 1, trainAccuracy: 0.5, testAccuracy: acc, durationMs: 1, imagesPerSec: 1 }] };
}

async function both(url: string): Promise<unknown> {
  const [a, b] = await Promise.all([raw.inject({ method: 'GET', url }), checked.inject({ method: 'GET', url })]);
  assert.equal(a.statusCode, b.statusCode, url);
  assert.match(String(a.headers['content-type']), /^application\/json/);
  assert.deepEqual(a.json(), b.json(), `${url}: the raw and the validated answer differ`);
  return a.json();
}

test('run, list and sweep reads send the same documents raw as validated, relative accuracy joined', async () => {
  const sweepId = newId('swp');
  const base = finished('completed', 0.8, { sweepId });
  const run = finished('completed', 0.6, { sweepId, baselineId: base.id });
  const queued = { ...newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' }), { sweepId }) };
  await store.importMany([{ doc: base }, { doc: run }, { doc: queued }]);
  await checked.ql.sweeps.create({ id: sweepId, name: 'raw', createdAt: new Date().toISOString(), preset: null, budget: null, request: {}, runIds: [base.id, run.id, queued.id], baselines: { '1': base.id } });
  for (let i = 0; i < 2; i++) {
    // Twice: the first read renders and caches the finished documents, the second reads the copies.
    const doc = (await both(`/experiments/${run.id}`)) as RunDocument;
    assert.equal(doc.metrics.relativeAccuracy, 0.6 / 0.8);
    await both('/experiments?limit=50');
    await both(`/experiments?limit=2&sweep=${sweepId}`);
    await both(`/sweeps/${sweepId}`);
  }
  assert.equal(await checked.ql.redis.exists(store.keys.runDocument(run.id)), 1, 'the finished run’s rendered copy is kept');
  assert.equal(await checked.ql.redis.exists(store.keys.runDocument(queued.id)), 0, 'an unfinished run’s is not');
  assert.equal((await raw.inject({ method: 'GET', url: `/experiments/${newId('run')}` })).statusCode, 404);
});

test('every write to a finished run drops its rendered copy, and a stale copy is never stored', async () => {
  const a = finished('completed', 0.5);
  const b = finished('completed', 0.9);
  await store.importMany([{ doc: a }, { doc: b }]);
  await store.getJson([a.id]);
  await new Promise((r) => setTimeout(r, 50)); // the copy is filled after the read returns
  assert.equal(await checked.ql.redis.exists(store.keys.runDocument(a.id)), 1);
  await store.update(a.id, { baselineId: b.id });
  assert.equal(await checked.ql.redis.exists(store.keys.runDocument(a.id)), 0, 'dropped by the write');
  const doc = (await both(`/experiments/${a.id}`)) as RunDocument;
  assert.equal(doc.baselineId, b.id);
  assert.equal(doc.metrics.relativeAccuracy, 0.5 / 0.9);
  // A fill computed before a write (rev moved on) is refused.
  const rev = (await checked.ql.redis.hget(store.keys.run(b.id), 'rev')) ?? '0';
  await store.update(b.id, { name: 'renamed' });
  const filled = await (checked.ql.redis as unknown as { quantlabCacheDocument(...a: string[]): Promise<number> }).quantlabCacheDocument(store.keys.run(b.id), store.keys.runDocument(b.id), rev, '{"stale":true}');
  assert.equal(filled, 0);
  assert.equal(((await both(`/experiments/${b.id}`)) as RunDocument).name, 'renamed');
  await store.delete(a.id);
  assert.equal(await checked.ql.redis.exists(store.keys.runDocument(a.id)), 0);
});

test('a rendered copy begins with status, baselineId and sweepId; a copy in another order is still joined', async () => {
  const sweepId = newId('swp');
  const base = finished('completed', 0.8);
  const run = finished('completed', 0.4, { baselineId: base.id });
  const member = finished('completed', 0.7, { sweepId });
  const alone = finished('completed', 0.5);
  const failed = finished('failed', 0.1, { baselineId: base.id });
  await store.importMany([base, run, member, alone, failed].map((doc) => ({ doc })));
  await store.getJson([run.id, member.id, alone.id, failed.id]);
  await new Promise((r) => setTimeout(r, 50)); // the copies are filled after the read returns
  const copy = (id: string) => checked.ql.redis.get(store.keys.runDocument(id));
  assert.ok((await copy(run.id))?.startsWith(`{"status":"completed","baselineId":"${base.id}","sweepId":null,`));
  assert.ok((await copy(member.id))?.startsWith(`{"status":"completed","baselineId":null,"sweepId":"${sweepId}",`));
  assert.ok((await copy(alone.id))?.startsWith('{"status":"completed","baselineId":null,"sweepId":null,'));
  assert.ok((await copy(failed.id))?.startsWith(`{"status":"failed","baselineId":"${base.id}",`));
  assert.equal(((await both(`/experiments/${run.id}`)) as RunDocument).metrics.relativeAccuracy, 0.4 / 0.8);
  assert.equal(((await both(`/experiments/${alone.id}`)) as RunDocument).metrics.relativeAccuracy, undefined);
  assert.equal(((await both(`/experiments/${failed.id}`)) as RunDocument).metrics.relativeAccuracy, undefined);

  // A copy rendered in another order (as before renderRunJson) is searched: the join still happens.
  const rev = (await checked.ql.redis.hget(store.keys.run(run.id), 'rev')) ?? '0';
  const { status, baselineId, ...rest } = JSON.parse((await copy(run.id))!) as RunDocument;
  const reordered = JSON.stringify({ ...rest, baselineId, status });
  await checked.ql.redis.del(store.keys.runDocument(run.id));
  const scripts = checked.ql.redis as unknown as { quantlabCacheDocument(...a: string[]): Promise<number> };
  assert.equal(await scripts.quantlabCacheDocument(store.keys.run(run.id), store.keys.runDocument(run.id), rev, reordered), 1);
  const doc = (await both(`/experiments/${run.id}`)) as RunDocument;
  assert.equal(doc.metrics.relativeAccuracy, 0.4 / 0.8);
  assert.equal(await copy(run.id), reordered, 'the reordered copy was the one read');
});
