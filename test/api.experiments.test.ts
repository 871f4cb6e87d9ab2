import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE, RunDocument, RunList } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { keysUnder, testEnv } from './helpers/redis.ts';

const env = testEnv('api-experiments');
const app = await buildApp({ env, logger: false });
const { runs, queue, redis } = app.ql;
after(async () => {
  await app.close();
  await env.cleanup();
});

const post = (payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url: '/experiments', payload: payload as object, headers });
const get = (url: string) => app.inject({ method: 'GET', url });

test('POST /experiments stores the effective config, then queues the job with the run id and priority', async () => {
  const res = await post({ name: 'first', dataset: 'mnist', model: 'mlp', priority: 7, representation: { kind: 'fixed', bits: 8 } });
  assert.equal(res.statusCode, 202);
  const body = res.json();
  assert.equal(body.status, 'queued');
  assert.equal(body.links.self, `/experiments/${body.id}`);
  assert.equal(res.headers.location, body.links.self);

  const doc = RunDocument.parse((await get(`/experiments/${body.id}`)).json());
  assert.equal(doc.status, 'queued');
  assert.equal(doc.series, 'fixed/maxabs/nearest/training');
  assert.deepEqual(doc.config.representation, { kind: 'fixed', bits: 8, range: 'maxabs', rounding: 'nearest', granularity: 'layer' });
  assert.equal(doc.config.training.batchSize, 100, 'defaults filled in');
  assert.deepEqual(doc.progress, { epoch: 0, epochs: 8, fraction: 0 });

  const job = await queue.getJob(body.id);
  assert.ok(job, 'job id = run id');
  assert.equal(job.name, 'run');
  assert.equal(job.opts.priority, 7);
  assert.equal(job.data.runId, body.id);
  assert.deepEqual(job.data.config, doc.config);
  assert.equal(job.data.baselineId, null);
});

test('Idempotency-Key: a repeat replays the original 202 and creates nothing', async () => {
  const before = await runs.redis.zcard(runs.keys.runs);
  const payload = { dataset: 'mnist', model: 'mlp', name: 'idem' };
  const a = await post(payload, { 'idempotency-key': 'key-123' });
  const b = await post(payload, { 'idempotency-key': 'key-123' });
  assert.equal(a.statusCode, 202);
  assert.equal(b.statusCode, 202);
  assert.deepEqual(b.json(), a.json());
  assert.equal(b.headers['idempotent-replayed'], 'true');
  assert.equal(await runs.redis.zcard(runs.keys.runs), before + 1);
  assert.ok((await redis.ttl(runs.keys.idempotency('experiments:key-123'))) > 3600, 'the key expires');

  const other = await post({ ...payload, name: 'different' }, { 'idempotency-key': 'key-123' });
  assert.equal(other.statusCode, 422);
  assert.equal(other.json().type, `${PROBLEM_BASE}idempotency-key-reused`);
  assert.equal(await runs.redis.zcard(runs.keys.runs), before + 1);

  // A late retry after the run was deleted replays the 202 and does not bring the run back.
  assert.equal((await app.inject({ method: 'DELETE', url: `/experiments/${a.json().id}` })).statusCode, 204);
  const late = await post(payload, { 'idempotency-key': 'key-123' });
  assert.equal(late.statusCode, 202);
  assert.equal(late.headers['idempotent-replayed'], 'true');
  assert.equal((await get(`/experiments/${a.json().id}`)).statusCode, 404);
  assert.equal(await runs.redis.zcard(runs.keys.runs), before);
});

test('GET /experiments: newest first, cursor pagination, filters', async () => {
  const ids: string[] = [];
  for (const [i, dataset] of ['mnist', 'fashion-mnist', 'mnist', 'synthetic', 'mnist'].entries()) {
    ids.push((await post({ dataset, model: 'mlp', name: `list-${i}`, representation: i === 2 ? { kind: 'dictionary', bits: 4 } : { kind: 'float32' } })).json().id);
    await new Promise((r) => setTimeout(r, 2));
  }
  const page1 = RunList.parse((await get('/experiments?limit=2')).json());
  assert.deepEqual(page1.items.map((d) => d.id), [ids[4], ids[3]]);
  assert.ok(page1.nextCursor);
  const page2 = RunList.parse((await get(`/experiments?limit=2&cursor=${page1.nextCursor}`)).json());
  assert.deepEqual(page2.items.map((d) => d.id), [ids[2], ids[1]]);

  const mnist = RunList.parse((await get('/experiments?dataset=mnist&limit=2')).json());
  assert.deepEqual(mnist.items.map((d) => d.id), [ids[4], ids[2]]);
  const next = RunList.parse((await get(`/experiments?dataset=mnist&limit=2&cursor=${mnist.nextCursor}`)).json());
  assert.equal(next.items[0].id, ids[0]);
  assert.ok(next.items.every((d) => d.config.dataset === 'mnist'));

  const dict = RunList.parse((await get('/experiments?kind=dictionary')).json());
  assert.deepEqual(dict.items.map((d) => d.id), [ids[2]]);
  assert.equal(dict.nextCursor, null);

  await runs.update(ids[3], { status: 'failed' });
  const failed = RunList.parse((await get('/experiments?status=failed')).json());
  assert.deepEqual(failed.items.map((d) => d.id), [ids[3]]);

  const bad = await get('/experiments?cursor=bm9wZQ');
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().type, `${PROBLEM_BASE}validation`);
  for (const cursor of ['%25%25%25', '....']) {
    const corrupt = await get(`/experiments?cursor=${cursor}`);
    assert.equal(corrupt.statusCode, 400, `cursor ${cursor} gave the first page`);
    assert.equal(corrupt.json().type, `${PROBLEM_BASE}validation`);
  }
});

test('cancel: a queued run loses its job and is cancelled; a running run gets cancelRequested; a final one is 409', async () => {
  const id = (await post({ dataset: 'mnist', model: 'mlp' })).json().id;
  const res = await app.inject({ method: 'POST', url: `/experiments/${id}/cancel` });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { id, status: 'cancelled', cancelRequested: false });
  assert.equal(await queue.getJob(id), undefined, 'the job is gone: no worker can start it');
  const doc = (await get(`/experiments/${id}`)).json();
  assert.equal(doc.status, 'cancelled');
  assert.ok(doc.finishedAt);

  const again = await app.inject({ method: 'POST', url: `/experiments/${id}/cancel` });
  assert.equal(again.statusCode, 409);
  assert.equal(again.json().type, `${PROBLEM_BASE}conflict`);

  const rid = (await post({ dataset: 'mnist', model: 'mlp' })).json().id;
  await runs.update(rid, { status: 'running', startedAt: new Date().toISOString() });
  const running = await app.inject({ method: 'POST', url: `/experiments/${rid}/cancel` });
  assert.equal(running.statusCode, 202);
  assert.deepEqual(running.json(), { id: rid, status: 'running', cancelRequested: true });
  assert.equal(await runs.isCancelRequested(rid), true);
  assert.equal((await runs.get(rid))?.status, 'running', 'the worker ends it, not the API');

  const missing = await app.inject({ method: 'POST', url: '/experiments/run_doesnotexist/cancel' });
  assert.equal(missing.statusCode, 404);
});

test('GET /experiments/:id/artifact downloads the bytes with length and file name', async () => {
  const id = (await post({ dataset: 'mnist', model: 'mlp' })).json().id;
  const none = await get(`/experiments/${id}/artifact`);
  assert.equal(none.statusCode, 404);
  assert.match(none.json().detail, /no artifact/);
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
  await runs.setArtifact(id, bytes);
  const res = await get(`/experiments/${id}/artifact`);
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/octet-stream');
  assert.equal(res.headers['content-length'], '1000');
  assert.match(String(res.headers['content-disposition']), new RegExp(`attachment; filename="${id}\\.qlab"`));
  assert.deepEqual(new Uint8Array(res.rawPayload), bytes);
});

test('if the queue refuses the job, the run does not stay queued: 503 and nothing stored', async () => {
  const other = testEnv('api-broken-queue');
  const broken = await buildApp({ env: other, logger: false });
  try {
    // A queue whose meta key holds the wrong type: Redis refuses every add (WRONGTYPE), as a real failure would.
    const meta = `${other.KEY_PREFIX}:bull:${other.QUEUE_NAME}:meta`;
    await broken.ql.queue.waitUntilReady();
    await broken.ql.redis.del(meta);
    await broken.ql.redis.set(meta, 'not a hash');
    const res = await broken.inject({ method: 'POST', url: '/experiments', payload: { dataset: 'mnist' }, headers: { 'idempotency-key': 'retry-me' } });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().type, `${PROBLEM_BASE}unavailable`);
    // (BullMQ's own id counter may have moved; no key of quantlab's may remain.)
    assert.deepEqual((await keysUnder(other.KEY_PREFIX)).filter((k) => !k.includes(':bull:')), [], 'no run, no index entry, no idempotency key left');
    assert.deepEqual(await broken.ql.runs.listIds({ limit: 10 }), { ids: [], nextCursor: null });
  } finally {
    await broken.close();
    await other.cleanup();
  }
});

test('healthz is ok with a queue depth; metrics are Prometheus text', async () => {
  const h = await get('/healthz');
  assert.equal(h.statusCode, 200);
  const body = h.json();
  assert.equal(body.status, 'ok');
  assert.equal(body.redis.ok, true);
  assert.ok(body.queue.prioritized >= 1);
  assert.equal(body.queue.slotsWanted, body.queue.waiting + body.queue.prioritized + body.queue.active);
  const m = await get('/metrics');
  assert.equal(m.statusCode, 200);
  assert.match(String(m.headers['content-type']), /^text\/plain/);
  assert.match(m.body, /^quantlab_queue_jobs\{state="prioritized"\} \d+$/m);
  assert.match(m.body, /^quantlab_runs\{status="queued"\} [1-9]\d*$/m);
  assert.match(m.body, /^quantlab_runs\{status="cancelled"\} [1-9]\d*$/m);
  assert.match(m.body, /^quantlab_queue_pending [1-9]\d*$/m);
  assert.match(m.body, /^quantlab_http_request_duration_seconds_bucket\{le="0.1",method="GET",route="\/experiments\/:id",status="200"\} [1-9]\d*$/m);
  assert.match(m.body, /^quantlab_http_request_duration_seconds_count\{method="POST",route="\/experiments",status="202"\} [1-9]\d*$/m);
});

test('GET /workers lists the registry (empty without workers)', async () => {
  const res = await get('/workers');
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { items: [] });
});
