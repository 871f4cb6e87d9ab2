// Dataset loading: the deterministic stratified splits, CIFAR-10 binary files (folder and tar.gz), clear errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, truncateSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create as tarCreate } from 'tar';
import { loadDataset, prepareDataset, RunInputError } from '@quantlab/ml';
import { fillBatch } from '@quantlab/ml/datasets/index';
import { Rng } from '@quantlab/ml/random';
import { writeCifarFolder, cifarRecords } from './helpers/cifar-files.ts';

const tmp = mkdtempSync(join(tmpdir(), 'quantlab-datasets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const classCounts = (labels: Uint8Array, n: number) => {
  const counts = new Array(10).fill(0);
  for (let i = 0; i < n; i++) counts[labels[i]]++;
  return counts;
};

test('mnist: a fixed stratified 6/7 split; limits take stratified subsets; normalization from the training images', async () => {
  const ds = await loadDataset('mnist', tmp);
  assert.equal(ds.train.count + ds.test.count, 10_000);
  assert.equal(ds.train.count, 8576);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.ok(classCounts(ds.train.labels, 1000).every((c) => c === 100), 'first 1000 training images: 100 a class');
  assert.ok(classCounts(ds.test.labels, 200).every((c) => c === 20));
  assert.equal(await loadDataset('mnist', tmp), ds, 'cached per process');
  const a = prepareDataset(ds, { trainLimit: 500, testLimit: 100 });
  const b = prepareDataset(ds, { trainLimit: 500, testLimit: 100 });
  assert.equal(a.train.count, 500);
  assert.equal(a.hash, b.hash);
  assert.ok(a.norm.mean[0] > 0.1 && a.norm.mean[0] < 0.15, `mnist mean ${a.norm.mean[0]}`);
  assert.ok(a.norm.std[0] > 0.25 && a.norm.std[0] < 0.35, `mnist std ${a.norm.std[0]}`);
  // A normalized batch has roughly zero mean and unit variance.
  const x = new Float32Array(500 * 784);
  const y = new Int32Array(500);
  fillBatch(a.train, Int32Array.from({ length: 500 }, (_, i) => i), 0, 500, x, y, { shape: ds.shape, norm: a.norm });
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  assert.ok(Math.abs(mean) < 1e-3, `normalized mean ${mean}`);
});

test('cifar10 from the extracted folder and from the tar.gz archive give the same images', async () => {
  const folder = join(tmp, 'folder');
  writeCifarFolder(folder, 40, 30);
  const fromFolder = await loadDataset('cifar10', folder);
  assert.equal(fromFolder.train.count, 200);
  assert.equal(fromFolder.test.count, 30);
  assert.deepEqual(fromFolder.shape, [32, 32, 3]);
  assert.ok(classCounts(fromFolder.train.labels, 100).every((c) => c === 10));
  const archived = join(tmp, 'archived');
  mkdirSync(archived);
  await tarCreate({ gzip: true, file: join(archived, 'cifar-10-binary.tar.gz'), cwd: folder }, ['cifar-10-batches-bin']);
  const fromArchive = await loadDataset('cifar10', archived);
  assert.match(fromArchive.split, /tar\.gz/);
  assert.deepEqual(fromArchive.train.labels, fromFolder.train.labels);
  assert.deepEqual(fromArchive.train.images, fromFolder.train.images);
  // Planar RGB became interleaved HWC: pixel 0's channels are bytes 1, 1025, 2049 of its record.
  const records = cifarRecords(40, 1);
  const first = fromFolder.train.images.subarray(0, 3);
  assert.deepEqual([...first], [records[1], records[1025], records[2049]]);
});

test('cifar10: a missing directory, a truncated file and a bad archive fail with the file and the expectation', async () => {
  await assert.rejects(loadDataset('cifar10', join(tmp, 'nothing-here')), (e: Error) => e instanceof RunInputError && /cifar-10-batches-bin.*cifar-10-binary\.tar\.gz/.test(e.message));
  const broken = join(tmp, 'broken');
  const dir = writeCifarFolder(broken, 10, 10);
  truncateSync(join(dir, 'data_batch_3.bin'), 3073 * 5 + 100);
  await assert.rejects(loadDataset('cifar10', broken), (e: Error) => e instanceof RunInputError && /data_batch_3\.bin: 15465 bytes is not a positive multiple of 3073/.test(e.message));
  const badLabel = join(tmp, 'bad-label');
  const dir2 = writeCifarFolder(badLabel, 10, 10);
  const rec = cifarRecords(10, 1);
  rec[3073] = 42;
  writeFileSync(join(dir2, 'data_batch_1.bin'), rec);
  await assert.rejects(loadDataset('cifar10', badLabel), /data_batch_1\.bin: record 1 has label 42/);
  const badArchive = join(tmp, 'bad-archive');
  mkdirSync(badArchive);
  writeFileSync(join(badArchive, 'cifar-10-binary.tar.gz'), 'not a tarball at all');
  await assert.rejects(loadDataset('cifar10', badArchive), (e: Error) => e instanceof RunInputError && /cifar-10-binary\.tar\.gz/.test(e.message));
});

test('augmentation (crop with padding 4, flip) is drawn from the project Rng: same seed, same batch', async () => {
  const ds = await loadDataset('synthetic', tmp);
  const p = prepareDataset(ds, { trainLimit: 20 });
  const size = 16 * 16 * 3;
  const batch = (seed: number | null) => {
    const x = new Float32Array(20 * size);
    fillBatch(p.train, Int32Array.from({ length: 20 }, (_, i) => i), 0, 20, x, new Int32Array(20), { shape: ds.shape, norm: p.norm, augment: seed === null ? null : new Rng(seed) });
    return x;
  };
  assert.deepEqual(batch(3), batch(3));
  assert.notDeepEqual(batch(3), batch(4));
  assert.notDeepEqual(batch(3), batch(null));
});

test('fashion-mnist: 70,000 real images (the package\'s two empty entries skipped), split 60,000 / 10,000 by class', async () => {
  const ds = await loadDataset('fashion-mnist', tmp);
  assert.equal(ds.train.count, 60_000);
  assert.equal(ds.test.count, 10_000);
  assert.ok(classCounts(ds.test.labels, 10_000).every((c) => c === 1000));
  assert.equal(await loadDataset('fashion-mnist', tmp), ds, 'parsed once per process');
});
