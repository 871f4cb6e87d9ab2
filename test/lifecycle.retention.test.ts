import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '@quantlab/api';
import { newRunDocument, runJob } from '@quantlab/shared';
import { ExperimentConfig, newId, type RunDocument, type RunStatus } from '@quantlab/shared';
import { applyRetention } from '@quantlab/api/services/lifecycle/retention';
import { keysUnder } from './helpers/redis.ts';
import { lifecycleStack, tiny, type Stack } from './helpers/lifecycle-stack.ts';
import { waitUntil } from './helpers/worker.ts';

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.now();
const ago = (days: number) => new Date(NOW - days * DAY).toISOString();

let s: Stack;
before(async () => {
  s = await lifecycleStack('lc-retention', { worker: false });
});
after(async () => s.close());

/** Stores a run as the worker would have left it, with epochs, an artifact and (unfinished) a checkpoint. */
async function seed(name: string, status: RunStatus, createdDaysAgo: number, finishedDaysAgo: number | null, extra: { keep?: boolean; sweepId?: string; baselineId?: string } = {}): Promise<RunDocument> {
  const config = ExperimentConfig.parse({ ...tiny({ name, keep: extra.keep ?? false }) });
  const doc: RunDocument = {
    ...newRunDocument(config, { sweepId: extra.sweepId ?? null, baselineId: extra.baselineId ?? null, createdAt: ago(createdDaysAgo) }),
    status,
    finishedAt: finishedDaysAgo === null ? null : ago(finishedDaysAgo),
  };
  const { runs } = s.app.ql;
  await runs.create(doc);
  await runs.addEpoch(doc.id, { epoch: 1, trainLoss: 1, trainAccuracy: 0.5, testAccuracy: 0.5, durationMs: 1, imagesPerSec: 1 }, 1);
  await runs.setArtifact(doc.id, new Uint8Array([1, 2, 3]));
  if (finishedDaysAgo === null) await runs.saveCheckpoint(doc.id, new Uint8Array([4]));
  // A finished job stays in BullMQ's completed set (removeOnComplete keeps the last 1000): retention removes it too.
  if (status === 'completed') {
    const job = runJob(doc, { delay: 10 * DAY });
    await s.app.ql.queue.add(job.name, job.data, job.opts);
  }
  return doc;
}

async function seedSweep(name: string, runIds: string[], baseline: string): Promise<void> {
  await s.app.ql.sweeps.create({ id: name, name, createdAt: ago(50), preset: null, budget: null, request: {}, runIds, baselines: { '1': baseline } });
}

test('applyRetention removes exactly the finished runs older than RETENTION_DAYS, except keep and kept runs’ baselines', async () => {
  const expired = [
    await seed('old completed', 'completed', 41, 40),
    await seed('old failed', 'failed', 35, 35),
    await seed('old cancelled', 'cancelled', 31, 31),
  ];
  const survivors = [
    await seed('old but keep', 'completed', 60, 60, { keep: true }),
    await seed('recent completed', 'completed', 5, 5),
    await seed('created long ago, finished recently', 'completed', 40, 10),
    await seed('old but still running', 'running', 40, null),
    await seed('old but still queued', 'queued', 40, null),
  ];
  // A sweep whose runs all expire goes with them.
  const sweepA = newId('swp');
  const aBase = await seed('A baseline', 'completed', 45, 45, { sweepId: sweepA });
  const aRun = await seed('A fixed', 'completed', 45, 45, { sweepId: sweepA, baselineId: aBase.id });
  await seedSweep(sweepA, [aBase.id, aRun.id], aBase.id);
  // A sweep with a kept run: its baseline stays, so the kept run keeps its relative accuracy; the rest expires.
  const sweepB = newId('swp');
  const bBase = await seed('B baseline', 'completed', 45, 45, { sweepId: sweepB });
  const bKept = await seed('B kept', 'completed', 45, 45, { sweepId: sweepB, baselineId: bBase.id, keep: true });
  const bGone = await seed('B expired', 'completed', 45, 45, { sweepId: sweepB, baselineId: bBase.id });
  await seedSweep(sweepB, [bBase.id, bKept.id, bGone.id], bBase.id);

  const r = await applyRetention(s.app.ql, { days: 30, now: NOW });
  const removed = [...expired, aBase, aRun, bGone].map((d) => d.id);
  assert.deepEqual([...r.removed].sort(), [...removed].sort());
  assert.deepEqual(r.removedSweeps, [sweepA]);
  assert.deepEqual([...r.kept].sort(), [survivors[0].id, bBase.id, bKept.id].sort());

  const keys = await keysUnder(s.env.KEY_PREFIX);
  for (const id of removed) {
    assert.deepEqual(keys.filter((k) => k.includes(id)), [], `nothing left of ${id}`);
    assert.equal(await s.run(id), null);
  }
  assert.equal(await s.app.ql.sweeps.get(sweepA), null);
  for (const d of [...survivors, bBase, bKept]) {
    const doc = await s.run(d.id);
    assert.ok(doc, `${d.name} survives`);
    assert.equal(doc.epochs.length, 1);
    assert.ok(await s.app.ql.runs.getArtifact(d.id));
  }
  assert.deepEqual((await s.app.ql.sweeps.get(sweepB))!.runIds, [bBase.id, bKept.id]);
  const again = await applyRetention(s.app.ql, { days: 30, now: NOW });
  assert.deepEqual(again.removed, [], 'a second round removes nothing more');
});

test('an API process with RETENTION_DAYS set removes an expired run by itself; a real finished run expires the same way', async () => {
  const old = await seed('expired before start', 'failed', 10, 9);
  const fresh = await seed('finished yesterday', 'completed', 2, 1);
  const app = await buildApp({ env: { ...s.env, RETENTION_DAYS: 7 }, logger: false });
  try {
    await app.ready(); // the first round runs at start, then hourly
    await waitUntil('the retention round', async () => (await s.run(old.id)) === null, 10_000);
    assert.ok(await s.run(fresh.id), 'a run within RETENTION_DAYS stays');
  } finally {
    await app.close();
  }

  await s.startWorker();
  const id = await s.submit(tiny({ name: 'real' }));
  const done = await s.waitFor(id, ['completed'], 60_000);
  assert.ok(await s.app.ql.runs.getArtifact(id));
  assert.ok(!(await applyRetention(s.app.ql, { days: 30, now: Date.parse(done.finishedAt!) + 29 * DAY })).removed.includes(id), 'not yet');
  const r = await applyRetention(s.app.ql, { days: 30, now: Date.parse(done.finishedAt!) + 31 * DAY });
  assert.ok(r.removed.includes(id));
  assert.deepEqual((await keysUnder(s.env.KEY_PREFIX)).filter((k) => k.includes(id)), []);
});
