// Training from user datasets end to end: IDX, npz and image-folder datasets under a worker's DATA_DIR, trained
// through the API and a real worker, and by path through `quantlab train`; a malformed file of each kind fails its
// run with the file named. The 422 rule: a dataset no registered worker serves is refused; built-ins always pass;
// with no worker registered the run is queued.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { RunDocument, type WorkerList } from '@quantlab/shared';
import { buildApp } from '@quantlab/api/app';
import { startWorker, type RunningWorker } from '@quantlab/worker';
import { keysUnder, testEnv } from './helpers/redis.ts';
import { harness, sleep, type Harness } from './helpers/worker.ts';
import { npyBytes, patternImages, writeIdxDataset, writeImageFolder, writeNpzDataset, zipBytes } from './helpers/dataset-files.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'quantlab-data-'));
const env = testEnv('datasets-train', { TFJS_BACKEND: 'wasm', DATA_DIR: dataDir });
let app: FastifyInstance;
let base: string;
let worker: RunningWorker;
let h: Harness;

const SHAPE: [number, number, number] = [8, 8, 1];
const TRAINING = { epochs: 3, learningRate: 0.05, batchSize: 10 };

before(async () => {
  const train = patternImages(60, SHAPE, 3, 11);
  const test_ = patternImages(30, SHAPE, 3, 12);
  writeIdxDataset(join(dataDir, 'digits'), train, test_, 8, true);
  writeNpzDataset(join(dataDir, 'arrays.npz'), train, test_, SHAPE, { float: true, compressed: true });
  await writeImageFolder(join(dataDir, 'pics'), train, test_, SHAPE, ['a', 'b', 'c'], true);
  // One malformed dataset of each kind.
  const idx = writeIdxDataset(join(dataDir, 'broken-idx'), train, test_, 8);
  truncateSync(join(idx, 't10k-images-idx3-ubyte'), 16 + 64 * 29 + 10);
  const y = npyBytes('|u1', [2], Uint8Array.from([0, 1]));
  writeFileSync(join(dataDir, 'broken-npz.npz'), zipBytes({ 'x_train.npy': npyBytes('<i2', [2, 2, 2], new Uint8Array(16)), 'y_train.npy': y, 'x_test.npy': y, 'y_test.npy': y }, false));
  const pics = await writeImageFolder(join(dataDir, 'broken-pics'), patternImages(6, SHAPE, 3, 1), patternImages(3, SHAPE, 3, 2), SHAPE, ['a', 'b', 'c']);
  writeFileSync(join(pics, 'train', 'b', '0004.png'), 'not a png');

  app = await buildApp({ env, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  h = harness(env);
  worker = await startWorker(env, { heartbeatMs: 300 });
});

after(async () => {
  await worker?.close();
  await app?.close();
  await h?.close();
  await env.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

async function post(body: unknown, url = base): Promise<Response> {
  return fetch(`${url}/experiments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

test('the worker registry lists the datasets under DATA_DIR, and one added later at the next heartbeat', async () => {
  const list = async () => ((await (await fetch(`${base}/workers`)).json()) as WorkerList).items[0].datasets;
  const datasets = await list();
  for (const d of ['idx:digits', 'npz:arrays', 'folder:pics', 'idx:broken-idx', 'npz:broken-npz', 'folder:broken-pics', 'mnist', 'synthetic']) assert.ok(datasets.includes(d), `${d} in ${datasets}`);
  assert.ok(!datasets.includes('cifar10'));
  writeNpzDataset(join(dataDir, 'late.npz'), patternImages(6, SHAPE, 3, 5), patternImages(3, SHAPE, 3, 6), SHAPE);
  const until = Date.now() + 10_000;
  while (!(await list()).includes('npz:late')) {
    assert.ok(Date.now() < until, 'npz:late never appeared in the registry');
    await sleep(100);
  }
});

test('through the API: idx, npz and folder datasets train on a real worker; the run document describes each dataset', { timeout: 180_000 }, async () => {
  const ids: Record<string, string> = {};
  for (const dataset of ['idx:digits', 'npz:arrays', 'folder:pics']) {
    const res = await post({ dataset, model: 'mlp', training: TRAINING });
    assert.equal(res.status, 202, await res.clone().text());
    ids[dataset] = ((await res.json()) as { id: string }).id;
  }
  const hashes = new Set<string>();
  for (const [dataset, id] of Object.entries(ids)) {
    const doc = await h.waitForStatus(id, ['completed', 'failed'], 150_000);
    assert.equal(doc.status, 'completed', `${dataset}: ${doc.error?.message}`);
    const d = doc.dataset!;
    assert.equal(d.name, dataset);
    assert.deepEqual(d.inputShape, SHAPE);
    assert.equal(d.classes, 3);
    assert.equal(d.train, 60);
    assert.equal(d.test, 30);
    assert.match(d.hash ?? '', /^[0-9a-f]{64}$/);
    hashes.add(d.hash!);
    // Three classes with a band each: far above chance (1/3) after three epochs.
    assert.ok(doc.metrics.testAccuracy! > 0.6, `${dataset}: test accuracy ${doc.metrics.testAccuracy}`);
  }
  assert.match((await h.store.get(ids['idx:digits']))!.dataset!.source!, /digits\/train-images-idx3-ubyte\.gz/);
  assert.deepEqual((await h.store.get(ids['folder:pics']))!.dataset!.classNames, ['a', 'b', 'c']);
  // idx and folder hold the same bytes (PNGs are lossless, the JPEGs are not); npz holds floats.
  assert.equal(hashes.size, 3);
});

test('through the API: a malformed file of each kind fails its run with the file and the expectation; the worker lives on', { timeout: 120_000 }, async () => {
  const cases: [string, RegExp][] = [
    ['idx:broken-idx', /broken-idx\/t10k-images-idx3-ubyte: the header says \[30, 8, 8\] \(1920 bytes of data\), the file has 1866/],
    ['npz:broken-npz', /broken-npz\.npz: x_train: dtype i2; expected uint8 or float32 images/],
    ['folder:broken-pics', /broken-pics\/train\/b\/0004\.png: not a readable PNG or JPEG image/],
  ];
  for (const [dataset, reason] of cases) {
    const res = await post({ dataset, model: 'mlp', training: TRAINING });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const doc = await h.waitForStatus(id, ['completed', 'failed'], 60_000);
    assert.equal(doc.status, 'failed');
    assert.match(doc.error!.message, reason);
    assert.equal(doc.attempts, 1, 'a data problem is not retried');
  }
  const res = await post({ dataset: 'synthetic', model: 'mlp', training: { epochs: 1, trainLimit: 50, testLimit: 20 } });
  const doc = await h.waitForStatus(((await res.json()) as { id: string }).id, ['completed', 'failed'], 60_000);
  assert.equal(doc.status, 'completed', 'the same worker still trains');
});

test('422 when no registered worker serves the dataset; built-ins are always accepted; with no worker registered the run is queued', async () => {
  const runKeys = async () => (await keysUnder(env.KEY_PREFIX)).filter((k) => k.includes(':run:')).length;
  const runsBefore = await runKeys();
  const res = await post({ dataset: 'npz:nowhere', model: 'mlp' });
  assert.equal(res.status, 422);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const problem = (await res.json()) as { type: string; detail: string; issues: { path: string[] }[] };
  assert.match(problem.type, /dataset-unavailable$/);
  assert.match(problem.detail, /no registered worker serves dataset npz:nowhere; the 1 registered worker\(s\) serve .*folder:pics.*idx:digits.*npz:arrays/);
  assert.deepEqual(problem.issues[0].path, ['dataset']);
  assert.equal(await runKeys(), runsBefore, 'nothing stored');
  // A sweep on it is refused too, and leaves no sweep behind.
  const sweep = await fetch(`${base}/sweeps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ base: { dataset: 'folder:nowhere', model: 'mlp' }, vary: { representation: [{ kind: 'fixed', bits: [4, 8] }] } }),
  });
  assert.equal(sweep.status, 422, await sweep.clone().text());
  assert.equal(((await (await fetch(`${base}/sweeps`)).json()) as { items: unknown[] }).items.length, 0);

  // cifar10 has no files here, so this worker does not list it: a built-in is accepted all the same.
  const builtin = await post({ dataset: 'cifar10', model: 'mlp', priority: 100 });
  assert.equal(builtin.status, 202);
  const builtinId = ((await builtin.json()) as { id: string }).id;
  await h.waitForStatus(builtinId, ['failed'], 60_000);

  // Another cluster (its own prefix and queue) with no worker registered: the run waits in the queue.
  const empty = testEnv('datasets-train-empty', { DATA_DIR: dataDir });
  const other = await buildApp({ env: empty, logger: false });
  try {
    const r = await other.inject({ method: 'POST', url: '/experiments', payload: { dataset: 'npz:nowhere', model: 'mlp' } });
    assert.equal(r.statusCode, 202, r.body);
    const id = (r.json() as { id: string }).id;
    const doc = RunDocument.parse((await other.inject({ method: 'GET', url: `/experiments/${id}` })).json());
    assert.equal(doc.status, 'queued');
  } finally {
    await other.close();
    await empty.cleanup();
  }
});

test('quantlab train takes idx:PATH, npz:PATH and folder:PATH; a malformed file fails the run naming it (exit 1)', { timeout: 180_000 }, () => {
  const train = (dataset: string) => {
    const r = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', 'train', '--dataset', dataset, '--model', 'mlp', '--epochs', '2', '--lr', '0.05', '--batch-size', '10', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, DATA_DIR: join(dataDir, 'elsewhere'), TFJS_BACKEND: 'wasm' },
      timeout: 120_000,
    });
    return { code: r.status, doc: r.stdout ? RunDocument.parse(JSON.parse(r.stdout)) : null, stderr: r.stderr };
  };
  for (const [spec, name] of [
    [`idx:${join(dataDir, 'digits')}`, 'idx:digits'],
    [`npz:${join(dataDir, 'arrays.npz')}`, 'npz:arrays'],
    [`folder:${join(dataDir, 'pics')}`, 'folder:pics'],
  ]) {
    const r = train(spec);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc!.status, 'completed');
    assert.equal(r.doc!.config.dataset, name);
    assert.equal(r.doc!.dataset!.train, 60);
  }
  const bad = train(`npz:${join(dataDir, 'broken-npz.npz')}`);
  assert.equal(bad.code, 1);
  assert.equal(bad.doc!.status, 'failed');
  assert.match(bad.stderr, /run failed: .*broken-npz\.npz: x_train: dtype i2/);
  const notAName = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', 'train', '--dataset', `idx:${join(dataDir, 'has space')}`], { encoding: 'utf8' });
  assert.equal(notAName.status, 2);
  assert.match(notAName.stderr, /"has space"\) must be letters, digits, _ or -/);
});
