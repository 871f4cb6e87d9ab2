import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SweepDocument } from '@quantlab/shared';
import { lifecycleStack, tiny, type Stack } from './helpers/lifecycle-stack.ts';
import { quantlab } from './helpers/lifecycle-cli.ts';

let s: Stack;
let url: string;
before(async () => {
  s = await lifecycleStack('lc-retry', { worker: false });
  await s.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
});
after(async () => s.close());

const post = (path: string) => s.app.inject({ method: 'POST', url: path });
const sweepDoc = async (id: string) => SweepDocument.parse((await s.app.inject({ method: 'GET', url: `/sweeps/${id}` })).json());

test('POST /experiments/:id/retry: a cancelled run runs again as a new run linked to it; others get 409 or 404', async () => {
  const id = await s.submit(tiny({ name: 'cancel-me', priority: 3 }));
  assert.equal((await post(`/experiments/${id}/retry`)).statusCode, 409, 'a queued run cannot be retried');
  assert.equal((await post(`/experiments/${id}/cancel`)).statusCode, 200);
  const res = await post(`/experiments/${id}/retry`);
  assert.equal(res.statusCode, 202, res.body);
  const body = res.json() as { id: string; status: string; retryOf: string; links: { self: string; retryOf: string } };
  assert.equal(body.retryOf, id);
  assert.equal(body.status, 'queued');
  assert.equal(body.links.retryOf, `/experiments/${id}`);
  assert.equal(res.headers.location, `/experiments/${body.id}`);
  const job = await s.app.ql.queue.getJob(body.id);
  assert.equal(job?.opts.priority, 3, 'queued with the same priority');

  await s.startWorker();
  const done = await s.waitFor(body.id, ['completed'], 60_000);
  const old = (await s.run(id))!;
  assert.equal(done.retryOf, id);
  assert.deepEqual(done.config, old.config, 'the same config');
  assert.equal(old.status, 'cancelled', 'the old run stays as it was');
  assert.equal((await post(`/experiments/${body.id}/retry`)).statusCode, 409, 'a completed run cannot be retried');
  assert.equal((await post('/experiments/run_doesnotexist/retry')).statusCode, 404);
});

test('a failed run is retried; quantlab retry and quantlab rm do it from the command line', async () => {
  const id = await s.submit({ name: 'no-cifar', dataset: 'cifar10', model: 'mlp' });
  const failed = await s.waitFor(id, ['failed'], 30_000);
  assert.match(failed.error!.message, /cifar/i);
  const cli = await quantlab(['retry', id, '--json'], { QUANTLAB_URL: url });
  assert.equal(cli.code, 0, cli.stderr);
  const body = JSON.parse(cli.stdout) as { id: string; retryOf: string };
  assert.equal(cli.stdout.trim().split('\n').length, 1, 'one JSON line');
  assert.equal(body.retryOf, id);
  const again = await s.waitFor(body.id, ['failed'], 30_000);
  assert.equal(again.retryOf, id, 'linked back');

  const twice = await quantlab(['retry', again.id], { QUANTLAB_URL: url });
  assert.equal(twice.code, 0, twice.stderr);
  assert.match(twice.stdout, new RegExp(`^run_\\S+  \\(retry of ${again.id}, queued\\)\\n$`));
  const refused = await quantlab(['retry', 'run_doesnotexist'], { QUANTLAB_URL: url });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^quantlab: POST \/experiments\/run_doesnotexist\/retry: 404 no experiment with id run_doesnotexist\n$/);

  const rm = await quantlab(['rm', id, again.id], { QUANTLAB_URL: url });
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(rm.stdout, `deleted run ${id}\ndeleted run ${again.id}\n`);
  assert.equal(await s.run(id), null);
  const rmAgain = await quantlab(['rm', id], { QUANTLAB_URL: url });
  assert.equal(rmAgain.code, 1);
  assert.match(rmAgain.stderr, /404/);
});

test('POST /sweeps/:id/retry re-runs every failed or cancelled run; a retried baseline becomes the sweep baseline', async () => {
  await s.worker!.close(); // hold the sweep's runs in the queue while some are cancelled
  s.worker = null;
  const res = await s.app.inject({ method: 'POST', url: '/sweeps', payload: { name: 'partial', base: tiny({}, { learningRate: 0.1 }), vary: { representation: [{ kind: 'fixed', bits: [4, 8] }] } } });
  const sweep = res.json() as { id: string; runs: string[]; baselines: Record<string, string> };
  const [baseline, four, eight] = sweep.runs;
  assert.equal(sweep.baselines['1'], baseline);
  for (const id of [baseline, four]) assert.equal((await post(`/experiments/${id}/cancel`)).statusCode, 200);
  await s.startWorker();
  await s.waitFor(eight, ['completed'], 60_000);
  assert.equal((await sweepDoc(sweep.id)).runs.find((r) => r.id === eight)!.metrics.relativeAccuracy, undefined, 'no baseline result yet');

  const cli = await quantlab(['retry', sweep.id, '--json'], { QUANTLAB_URL: url });
  assert.equal(cli.code, 0, cli.stderr);
  const retried = JSON.parse(cli.stdout) as { id: string; runs: { id: string; retryOf: string }[] };
  assert.deepEqual(retried.runs.map((r) => r.retryOf).sort(), [baseline, four].sort());
  const newBaseline = retried.runs.find((r) => r.retryOf === baseline)!.id;
  const newFour = retried.runs.find((r) => r.retryOf === four)!.id;
  for (const r of retried.runs) await s.waitFor(r.id, ['completed'], 60_000);

  const doc = await sweepDoc(sweep.id);
  assert.deepEqual(doc.runs.map((r) => r.id), [newBaseline, newFour, eight], 'the new attempts replace the old in the sweep');
  assert.deepEqual(doc.baselines, { '1': newBaseline });
  assert.equal(doc.status, 'completed');
  assert.equal(doc.runs.find((r) => r.id === newFour)!.baselineId, newBaseline);
  for (const r of doc.runs) assert.equal(typeof r.metrics.relativeAccuracy, 'number', `${r.name} has its relative accuracy`);
  assert.equal((await s.run(baseline))!.sweepId, sweep.id, 'the old attempt keeps its sweep id');

  const nothing = await post(`/sweeps/${sweep.id}/retry`);
  assert.equal(nothing.statusCode, 202);
  assert.deepEqual(nothing.json().runs, [], 'nothing left to retry');
  assert.equal((await post('/sweeps/swp_doesnotexist/retry')).statusCode, 404);

  // Deleting the sweep takes the earlier attempts too.
  assert.equal((await s.app.inject({ method: 'DELETE', url: `/sweeps/${sweep.id}` })).statusCode, 204);
  for (const id of [baseline, four, newBaseline, newFour, eight]) assert.equal(await s.run(id), null);
});
