// Issue 14, finding 8: an Idempotency-Key is marked done only after its run exists. A repeat while the first request
// is still creating gets 409 (not a 202 naming a run that does not exist), and a claim left by a process that died
// in between expires within IDEMPOTENCY_PENDING_TTL_SEC instead of replaying 202s for a day.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { IDEMPOTENCY_PENDING_TTL_SEC } from '../services/api/src/idempotency.ts';
import { testEnv } from './helpers/redis.ts';
import { waitUntil } from './helpers/worker.ts';

const env = testEnv('idem-order');
const app = await buildApp({ env, logger: false });
after(async () => {
  await app.close();
  await env.cleanup();
});

const RUN = { dataset: 'mnist', model: 'mlp' };
const post = (key: string) => app.inject({ method: 'POST', url: '/experiments', payload: RUN, headers: { 'idempotency-key': key } });

test('a repeat while the first request is still creating gets 409; every 202 names a run that exists', async () => {
  // Hold the first request inside the store's create, as a slow Redis or a busy process would.
  const store = app.ql.runs;
  const original = store.createMany.bind(store);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let entered = false;
  store.createMany = async (...args) => {
    entered = true;
    await held;
    return original(...args);
  };
  try {
    const first = post('order-1');
    await waitUntil('the first request to reach the store', async () => entered, 5_000, 5);
    const repeat = await post('order-1');
    if (repeat.statusCode === 202) {
      const get = await app.inject({ method: 'GET', url: repeat.headers.location as string });
      assert.equal(get.statusCode, 200, `the replayed 202 named ${repeat.headers.location}, which does not exist`);
    }
    assert.equal(repeat.statusCode, 409);
    assert.equal(repeat.json().type, `${PROBLEM_BASE}conflict`);
    assert.ok(Number(repeat.headers['retry-after']) > 0);
    const ttl = await app.ql.redis.ttl(app.ql.runs.keys.idempotency('experiments:order-1'));
    assert.ok(ttl > 0 && ttl <= IDEMPOTENCY_PENDING_TTL_SEC, `the claim expires in ${ttl} s`);
    release();
    const done = await first;
    assert.equal(done.statusCode, 202);
  } finally {
    store.createMany = original;
    release();
  }
  const replay = await post('order-1');
  assert.equal(replay.statusCode, 202);
  assert.equal(replay.headers['idempotent-replayed'], 'true');
  assert.equal((await app.inject({ method: 'GET', url: replay.headers.location as string })).statusCode, 200);
  assert.ok((await app.ql.redis.ttl(app.ql.runs.keys.idempotency('experiments:order-1'))) > IDEMPOTENCY_PENDING_TTL_SEC, 'done: remembered for a day');
});

test('a claim left by a process that died before creating is not replayed as a 202', async () => {
  // What a process that claimed the key and died leaves behind.
  const key = app.ql.runs.keys.idempotency('experiments:order-2');
  const first = await post('order-2');
  assert.equal(first.statusCode, 202);
  const stored = JSON.parse((await app.ql.redis.get(key))!) as Record<string, unknown>;
  await app.ql.redis.set(key, JSON.stringify({ ...stored, state: 'pending', body: { ...(stored.body as object), id: 'run_never_created' } }), 'EX', IDEMPOTENCY_PENDING_TTL_SEC);
  const r = await post('order-2');
  assert.equal(r.statusCode, 409, 'no 202 for a run that was never created');
  await app.ql.redis.del(key); // the claim expired
  const again = await post('order-2');
  assert.equal(again.statusCode, 202);
  assert.equal((await app.inject({ method: 'GET', url: again.headers.location as string })).statusCode, 200);
});
