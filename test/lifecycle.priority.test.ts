import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { lifecycleStack, tiny, type Stack } from './helpers/lifecycle-stack.ts';

let s: Stack;
before(async () => {
  s = await lifecycleStack('lc-priority', { worker: false });
});
after(async () => s.close());

test('with a loaded queue and one worker, runs start in priority order; a sweep’s baseline before its runs', async () => {
  // Everything is queued before the worker starts, in an order that is not the priority order.
  const singles: [number, string][] = [];
  for (const priority of [60, 20, 90, 5]) singles.push([priority, await s.submit(tiny({ name: `p${priority}`, priority }))]);
  const res = await s.app.inject({ method: 'POST', url: '/sweeps', payload: { name: 'prio', base: tiny({ priority: 30 }), vary: { representation: [{ kind: 'fixed', bits: [4, 8] }] } } });
  assert.equal(res.statusCode, 202, res.body);
  const sweep = res.json() as { runs: string[]; baselines: Record<string, string> };
  const baseline = sweep.baselines['1'];
  const jobs = await Promise.all([...singles.map(([, id]) => id), ...sweep.runs].map((id) => s.app.ql.queue.getJob(id)));
  assert.deepEqual(jobs.map((j) => j?.opts.priority), [60, 20, 90, 5, 29, 30, 30], 'config.priority is the BullMQ priority; the baseline one better');

  await s.startWorker();
  const ids = [...singles.map(([, id]) => id), ...sweep.runs];
  const docs = await Promise.all(ids.map((id) => s.waitFor(id, ['completed'], 90_000)));
  const started = [...docs].sort((a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!)).map((d) => d.id);
  const byId = new Map(singles.map(([p, id]) => [id, `p${p}`]));
  byId.set(baseline, 'baseline(29)');
  for (const [i, id] of sweep.runs.slice(1).entries()) byId.set(id, `sweep(30)#${i + 1}`);
  assert.deepEqual(
    started.map((id) => byId.get(id)),
    ['p5', 'p20', 'baseline(29)', 'sweep(30)#1', 'sweep(30)#2', 'p60', 'p90'],
  );
});
