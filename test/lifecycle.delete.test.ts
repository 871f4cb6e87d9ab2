import { test, after, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { bullPrefix, listWorkers, type RunDocument } from '@quantlab/shared';
import { deleteRun, deleteSweep } from '@quantlab/api/services/lifecycle/delete';
import { keysUnder } from './helpers/redis.ts';
import { lifecycleStack, tiny, type Stack } from './helpers/lifecycle-stack.ts';
import { sleep } from './helpers/worker.ts';

let s: Stack;
before(async () => {
  s = await lifecycleStack('lc-delete');
});
after(async () => s.close());

/** A run that trains long enough to be caught running, with epochs and a checkpoint already stored. */
const long = () => tiny({ name: 'long' }, { epochs: 40, trainLimit: 1000 });
const hasEpoch = (d: RunDocument) => d.epochs.length >= 1;

/** The worker stores an epoch first and its checkpoint just after: wait for both, not only what the API shows. */
async function waitForCheckpoint(id: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await s.app.ql.runs.loadCheckpoint(id))) {
    assert.ok(Date.now() < until, `run ${id} has no checkpoint after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Waits until the worker lists none of these runs as current: their jobs have returned, every write was tried. */
async function workerLeft(ids: string[], timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const me = (await listWorkers(s.app.ql.redis, s.env.KEY_PREFIX)).find((w) => w.id === s.worker!.id);
    if (me && !me.currentRuns.some((r) => ids.includes(r))) return;
    assert.ok(Date.now() < until, `the worker still runs one of ${ids.join(', ')} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A test that fails midway must not leave its running run behind: the next tests scan the whole prefix. */
const removeOnExit = (t: TestContext, id: string) => t.after(() => deleteRun(s.app.ql, id, { graceMs: 0 }).then(() => undefined));

/**
 * What may remain under the test's prefix once its runs are gone, and why:
 * - BullMQ's queue-level bookkeeping (not per job): `meta` (queue options/version), `events` (the capped event stream,
 *   which mentions job ids in its entries, not in key names), `stalled-check` (the stalled checker's timestamp),
 *   `marker` (wakes blocked workers), `pc` (the priority counter that keeps FIFO order within a priority),
 *   `stalled` (ids the stall checker saw active at its last pass; rewritten every STALLED_INTERVAL_MS), `id` (the
 *   counter BullMQ keeps for ids it generates itself; ours are the run ids);
 * - the worker registry (`worker:<id>` with a TTL and the `workers` set) while the worker lives.
 * Everything else (run, epochs, artifact, checkpoint, the runs and sweeps indexes, the job hash, its lock and logs)
 * must be gone.
 */
function unexpectedKeys(keys: string[]): string[] {
  const q = `${bullPrefix(s.env)}:${s.env.QUEUE_NAME}:`;
  const queueLevel = new Set(['meta', 'events', 'stalled-check', 'marker', 'pc', 'stalled', 'id'].map((k) => q + k));
  const workerId = s.worker!.id;
  return keys.filter((k) => !queueLevel.has(k) && k !== `${s.env.KEY_PREFIX}:workers` && k !== `${s.env.KEY_PREFIX}:worker:${workerId}`);
}

test('DELETE /experiments/:id of a RUNNING run cancels it and leaves no key behind', async (t) => {
  const id = await s.submit(long());
  removeOnExit(t, id);
  await s.waitFor(id, ['running'], 40_000, hasEpoch);
  await waitForCheckpoint(id);
  assert.ok((await keysUnder(s.env.KEY_PREFIX)).some((k) => k.endsWith(`:${id}:lock`)), 'the job is locked by the worker');

  const res = await s.app.inject({ method: 'DELETE', url: `/experiments/${id}` });
  assert.equal(res.statusCode, 204);
  // Sentinel: the worker has left the run (its job returned), so every write it might still try was tried.
  await workerLeft([id]);
  const keys = await keysUnder(s.env.KEY_PREFIX);
  assert.deepEqual(keys.filter((k) => k.includes(id)), [], 'no key names the run');
  assert.deepEqual(unexpectedKeys(keys), []);
  assert.equal((await s.app.inject({ method: 'GET', url: `/experiments/${id}` })).statusCode, 404);
  assert.equal((await s.app.inject({ method: 'DELETE', url: `/experiments/${id}` })).statusCode, 404, 'a second delete: 404');
});

test('a run cut off while training (no grace) cannot be re-created by its worker, and the worker goes on', async (t) => {
  const id = await s.submit(long());
  removeOnExit(t, id);
  await s.waitFor(id, ['running'], 40_000, hasEpoch);
  await waitForCheckpoint(id);
  // graceMs 0: the worker gets no chance to stop by itself; only the deleted lock stops its writes.
  assert.equal(await deleteRun(s.app.ql, id, { graceMs: 0 }), true);
  // The next run can only start once the cut-off one has returned (concurrency 1): by then every zombie write was tried.
  const next = await s.submit(tiny({ name: 'after' }));
  const done = await s.waitFor(next, ['completed'], 60_000);
  assert.equal(done.error, null);
  await workerLeft([id, next]);
  const keys = await keysUnder(s.env.KEY_PREFIX);
  assert.deepEqual(keys.filter((k) => k.includes(id)), [], 'nothing of the deleted run was written back');
  assert.equal(await s.run(id), null);

  const res = await s.app.inject({ method: 'DELETE', url: `/experiments/${next}` });
  assert.equal(res.statusCode, 204, 'a completed run deletes too');
  assert.deepEqual(unexpectedKeys(await keysUnder(s.env.KEY_PREFIX)), []);
});

test('DELETE /sweeps/:id removes the running run, the queued ones, their jobs and the sweep', async (t) => {
  const res = await s.app.inject({
    method: 'POST',
    url: '/sweeps',
    payload: { name: 'doomed', base: tiny({}, { epochs: 40, trainLimit: 1000 }), vary: { representation: [{ kind: 'fixed', bits: [4, 8] }] } },
  });
  assert.equal(res.statusCode, 202, res.body);
  const sweep = res.json() as { id: string; runs: string[]; baselines: Record<string, string> };
  t.after(() => deleteSweep(s.app.ql, sweep.id, { graceMs: 0 }).then(() => undefined));
  assert.equal(sweep.runs.length, 3);
  const baseline = Object.values(sweep.baselines)[0];
  await s.waitFor(baseline, ['running'], 40_000);
  const queued = sweep.runs.filter((r) => r !== baseline);
  for (const r of queued) assert.ok(await s.app.ql.queue.getJob(r), 'queued runs have jobs');

  const del = await s.app.inject({ method: 'DELETE', url: `/sweeps/${sweep.id}` });
  assert.equal(del.statusCode, 204);
  await workerLeft(sweep.runs);
  const keys = await keysUnder(s.env.KEY_PREFIX);
  for (const id of [sweep.id, ...sweep.runs]) assert.deepEqual(keys.filter((k) => k.includes(id)), [], `nothing left of ${id}`);
  assert.deepEqual(unexpectedKeys(keys), []);
  for (const r of sweep.runs) assert.equal(await s.app.ql.queue.getJob(r), undefined);
  assert.equal((await s.app.inject({ method: 'GET', url: `/sweeps/${sweep.id}` })).statusCode, 404);
  assert.equal((await s.app.inject({ method: 'DELETE', url: `/sweeps/${sweep.id}` })).statusCode, 404);
  assert.equal((await s.app.inject({ method: 'DELETE', url: '/sweeps/not/a-valid-id' })).statusCode, 404);
});

test('deleting one run of a sweep takes it out of the sweep', async () => {
  await s.worker!.close(); // keep the runs queued
  s.worker = null;
  const res = await s.app.inject({ method: 'POST', url: '/sweeps', payload: { name: 'trim', base: tiny(), vary: { representation: [{ kind: 'fixed', bits: [4, 8] }] } } });
  const sweep = res.json() as { id: string; runs: string[] };
  const victim = sweep.runs[2];
  assert.equal((await s.app.inject({ method: 'DELETE', url: `/experiments/${victim}` })).statusCode, 204);
  const doc = (await s.app.inject({ method: 'GET', url: `/sweeps/${sweep.id}` })).json() as { runs: { id: string }[] };
  assert.deepEqual(doc.runs.map((r) => r.id), sweep.runs.slice(0, 2));
  assert.equal(await s.app.ql.queue.getJob(victim), undefined, 'its job is gone: it never starts');
  assert.equal((await s.app.inject({ method: 'DELETE', url: `/sweeps/${sweep.id}` })).statusCode, 204);
  assert.deepEqual(await keysUnder(s.env.KEY_PREFIX).then((ks) => ks.filter((k) => k.includes(sweep.id) || sweep.runs.some((r) => k.includes(r)))), []);
});
