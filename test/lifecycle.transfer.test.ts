import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@quantlab/api';
import { SweepDocument, SweepExport } from '@quantlab/shared';
import { testEnv } from './helpers/redis.ts';
import { lifecycleStack, tiny, type Stack } from './helpers/lifecycle-stack.ts';
import { quantlab } from './helpers/lifecycle-cli.ts';

// Two clusters: `s` (API + worker) trains a sweep; `other` (an API on another prefix and queue, no worker) imports it.
let s: Stack;
let other: FastifyInstance;
const otherEnv = testEnv('lc-transfer-b');
let urlA: string;
let urlB: string;
const dir = mkdtempSync(join(tmpdir(), 'ql-export-'));
let sweep: { id: string; runs: string[] };

before(async () => {
  s = await lifecycleStack('lc-transfer-a');
  other = await buildApp({ env: otherEnv, logger: false });
  for (const app of [s.app, other]) await app.listen({ host: '127.0.0.1', port: 0 });
  urlA = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  urlB = `http://127.0.0.1:${(other.server.address() as AddressInfo).port}`;
  const res = await s.app.inject({ method: 'POST', url: '/sweeps', payload: { name: 'moving', base: tiny({}, { learningRate: 0.1 }), vary: { representation: [{ kind: 'fixed', bits: [4] }, { kind: 'dictionary', bits: [2] }] } } });
  sweep = res.json() as typeof sweep;
  for (const id of sweep.runs) await s.waitFor(id, ['completed'], 60_000);
});
after(async () => {
  await other.close();
  await otherEnv.cleanup();
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const sweepOf = async (app: FastifyInstance, id: string) => SweepDocument.parse((await app.inject({ method: 'GET', url: `/sweeps/${id}` })).json());
/** What must survive the move: everything but ids (and the sweep's id inside each run). */
const comparable = (d: SweepDocument) => ({
  name: d.name,
  status: d.status,
  counts: d.counts,
  summary: d.summary,
  runs: d.runs.map((r) => ({ name: r.name, status: r.status, config: r.config, metrics: r.metrics, epochs: r.epochs, provenance: r.provenance, dataset: r.dataset, artifact: r.artifact, series: r.series, baselineIsSet: r.baselineId !== null })),
});

test('quantlab export writes the sweep, its runs and artifacts; quantlab import recreates it on another cluster, nothing queued', async () => {
  const file = join(dir, 'sweep.json');
  const out = await quantlab(['export', sweep.id, '--out', file], { QUANTLAB_URL: urlA });
  assert.equal(out.code, 0, out.stderr);
  const data = SweepExport.parse(JSON.parse(readFileSync(file, 'utf8')));
  assert.equal(data.runs.length, 3);
  assert.deepEqual(Object.keys(data.artifacts).sort(), [...sweep.runs].sort(), 'every artifact travels along');
  const viaStdout = await quantlab(['export', sweep.id], { QUANTLAB_URL: urlA });
  assert.equal(viaStdout.code, 0, viaStdout.stderr);
  assert.deepEqual({ ...JSON.parse(viaStdout.stdout), exportedAt: null }, { ...data, exportedAt: null }, '`> sweep.json` gives the same');

  const imp = await quantlab(['import', file, '--json'], { QUANTLAB_URL: urlB });
  assert.equal(imp.code, 0, imp.stderr);
  const result = JSON.parse(imp.stdout) as { id: string; runs: string[]; ids: Record<string, string> };
  assert.notEqual(result.id, sweep.id, 'new ids by default');
  for (const id of sweep.runs) assert.ok(result.ids[id] && result.ids[id] !== id);

  const [a, b] = [await sweepOf(s.app, sweep.id), await sweepOf(other, result.id)];
  // The summary names each seed's run: the imported runs under their new ids.
  const renamed = <T,>(x: T): T => JSON.parse(Object.entries(result.ids).reduce((json, [from, to]) => json.split(JSON.stringify(from)).join(JSON.stringify(to)), JSON.stringify(x)));
  assert.deepEqual(comparable(b), renamed(comparable(a)), 'statuses, metrics, epochs, provenance and summary as they were');
  assert.deepEqual(b.baselines, { '1': result.ids[a.baselines['1']] });
  for (const r of b.runs) assert.equal(typeof r.metrics.relativeAccuracy, 'number', 'relative accuracy against the imported baseline');
  for (const id of sweep.runs) {
    const [x, y] = [await s.app.inject({ method: 'GET', url: `/experiments/${id}/artifact` }), await other.inject({ method: 'GET', url: `/experiments/${result.ids[id]}/artifact` })];
    assert.equal(y.statusCode, 200);
    assert.deepEqual(y.rawPayload, x.rawPayload, 'the artifact, byte for byte');
  }
  const counts = await other.ql.queue.getJobCounts();
  assert.equal(Object.values(counts).reduce((n, c) => n + c, 0), 0, 'nothing queued on the importing cluster');

  // The same ids, once; a second time they are taken.
  const same = await quantlab(['import', file, '--same-ids'], { QUANTLAB_URL: urlB });
  assert.equal(same.code, 0, same.stderr);
  assert.equal(same.stdout, `imported sweep ${sweep.id} with 3 runs\n`);
  assert.deepEqual(comparable(await sweepOf(other, sweep.id)), comparable(a));
  const taken = await quantlab(['import', file, '--same-ids'], { QUANTLAB_URL: urlB });
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /^quantlab: POST \/import\?ids=same: 409 ids already exist on this cluster: /);

  // quantlab rm takes a sweep id too: the imported copy goes with all its runs and artifacts.
  const rm = await quantlab(['rm', result.id, '--json'], { QUANTLAB_URL: urlB });
  assert.equal(rm.code, 0, rm.stderr);
  assert.deepEqual(JSON.parse(rm.stdout), { id: result.id, deleted: true });
  assert.equal((await other.inject({ method: 'GET', url: `/sweeps/${result.id}` })).statusCode, 404);
  for (const id of result.runs) assert.equal(await other.ql.runs.exists(id), false);
  assert.equal(await other.ql.runs.getArtifact(result.runs[0]), null);
});

test('a run exported while unfinished arrives cancelled with a note; bad files are refused with 400 and store nothing', async () => {
  const res = await s.app.inject({ method: 'GET', url: `/sweeps/${sweep.id}/export` });
  assert.equal(res.statusCode, 200);
  const data = res.json() as SweepExport;
  data.runs[2] = { ...data.runs[2], status: 'running', finishedAt: null };
  const imp = await other.inject({ method: 'POST', url: '/import', payload: data });
  assert.equal(imp.statusCode, 201, imp.body);
  const { ids } = imp.json() as { ids: Record<string, string> };
  const run = (await other.inject({ method: 'GET', url: `/experiments/${ids[data.runs[2].id]}` })).json() as { status: string; error: { message: string } };
  assert.equal(run.status, 'cancelled');
  assert.match(run.error.message, /imported while running: it is not queued on this cluster/);

  const before = await other.ql.redis.zcard(other.ql.runs.keys.runs);
  for (const bad of [{}, { ...data, format: 'something-else' }, { ...data, runs: [{ ...data.runs[0], id: '../../etc' }] }, { ...data, artifacts: { [data.runs[0].id]: '%%%' } }]) {
    const r = await other.inject({ method: 'POST', url: '/import', payload: bad });
    assert.equal(r.statusCode, 400, JSON.stringify(bad).slice(0, 80));
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  }
  assert.equal(await other.ql.redis.zcard(other.ql.runs.keys.runs), before, 'nothing stored');
  assert.equal((await other.inject({ method: 'GET', url: '/sweeps/swp_doesnotexist/export' })).statusCode, 404);
  const notJson = await quantlab(['import', join(dir, 'missing.json')], { QUANTLAB_URL: urlB });
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr, /^quantlab: .*missing\.json: ENOENT/);
});
