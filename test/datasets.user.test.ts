// User datasets under DATA_DIR: IDX files (plain and .gz), NumPy .npz (ours and NumPy's own), image folders (PNG and
// JPEG via sharp). What they decode to, what the worker says it serves, and a named reason for every malformed file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, copyFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dataset, ExperimentConfig } from '@quantlab/shared';
import { loadDataset, prepareDataset, RunInputError } from '@quantlab/ml';
import { servableDatasets } from '@quantlab/ml/datasets/index';
import { folderCacheFile, listImageFolder, loadImageFolder } from '@quantlab/ml/datasets/image-folder';
import { npyBytes, patternImages, writeIdxDataset, writeImageFolder, writeNpzDataset, zipBytes } from './helpers/dataset-files.ts';

const tmp = mkdtempSync(join(tmpdir(), 'quantlab-user-datasets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const train = patternImages(30, [8, 8, 1], 3, 1);
const test_ = patternImages(12, [8, 8, 1], 3, 2);
const inputError = (re: RegExp) => (e: Error) => e instanceof RunInputError && re.test(e.message);

test('dataset names: built-ins and KIND:NAME with a plain name; never a path', () => {
  for (const ok of ['mnist', 'cifar10', 'idx:fashion-mnist', 'npz:my_data-2', 'folder:Cats'])
    assert.equal(Dataset.safeParse(ok).success, true, ok);
  for (const bad of ['imagenet', 'idx:', 'idx:../etc', 'npz:a/b', 'folder:a.b', 'idx:x y', 'csv:data', `npz:${'a'.repeat(65)}`, 'IDX:data']) {
    assert.equal(Dataset.safeParse(bad).success, false, bad);
  }
  const r = ExperimentConfig.safeParse({ dataset: 'npz:../../secret' });
  assert.equal(r.success, false);
  assert.match(r.error!.issues[0].message, /idx:NAME, npz:NAME, folder:NAME with NAME of 1-64 letters/);
});

test('idx: the official four files, plain or gzipped, decode to the same split; the run document gets shape, classes, source', async () => {
  writeIdxDataset(join(tmp, 'plain'), train, test_, 8);
  writeIdxDataset(join(tmp, 'zipped'), train, test_, 8, true);
  const a = await loadDataset('idx:plain', tmp);
  const b = await loadDataset('idx:zipped', tmp);
  assert.deepEqual(a.shape, [8, 8, 1]);
  assert.equal(a.numClasses, 3);
  assert.equal(a.train.count, 30);
  assert.equal(a.test.count, 12);
  assert.deepEqual(b.train.images, a.train.images);
  assert.deepEqual(b.test.labels, a.test.labels);
  // Interleaved by class (labels were i % 3 already), images unchanged.
  assert.deepEqual([...a.train.labels.subarray(0, 6)], [0, 1, 2, 0, 1, 2]);
  assert.deepEqual(a.train.images.subarray(0, 64), train.images.subarray(0, 64));
  assert.match(b.source!, /zipped\/train-images-idx3-ubyte\.gz/);
  assert.equal(await loadDataset('idx:plain', tmp), a, 'cached while the files are unchanged');
  const p = prepareDataset(a, { trainLimit: 9 });
  assert.equal(p.train.count, 9);
  assert.equal(p.hash.length, 64);
});

test('npz: uint8 stored and float32 deflated archives from the helper, and the two NumPy wrote', async () => {
  writeNpzDataset(join(tmp, 'bytes.npz'), train, test_, [8, 8, 1]);
  writeNpzDataset(join(tmp, 'floats.npz'), train, test_, [8, 8, 1], { float: true, compressed: true });
  const u8 = await loadDataset('npz:bytes', tmp);
  const f32 = await loadDataset('npz:floats', tmp);
  assert.ok(u8.train.images instanceof Uint8Array);
  assert.ok(f32.train.images instanceof Float32Array);
  assert.deepEqual(u8.train.images.subarray(0, 64), train.images.subarray(0, 64));
  assert.ok(Math.abs(f32.train.images[5] - train.images[5] / 255) < 1e-7);
  assert.deepEqual(u8.test.labels, f32.test.labels);
  // Normalization comes from the data, so uint8 and float32 copies of the same images normalize alike.
  const nu = prepareDataset(u8, {}).norm;
  const nf = prepareDataset(f32, {}).norm;
  assert.ok(Math.abs(nu.mean[0] - nf.mean[0] * 255) < 1e-6 && Math.abs(nu.std[0] - nf.std[0] * 255) < 1e-6);

  copyFileSync('test/fixtures/numpy-savez-uint8.npz', join(tmp, 'np-u8.npz'));
  copyFileSync('test/fixtures/numpy-savez-compressed-float32.npz', join(tmp, 'np-f32.npz'));
  const npU8 = await loadDataset('npz:np-u8', tmp);
  const npF32 = await loadDataset('npz:np-f32', tmp);
  assert.deepEqual(npU8.shape, [4, 4, 3]);
  assert.equal(npU8.numClasses, 3);
  assert.deepEqual([...npU8.train.images.subarray(0, 4)], [95, 130, 194, 217]);
  assert.deepEqual([...npU8.test.images.subarray(0, 4)], [24, 13, 71, 108]);
  assert.ok(Math.abs(npF32.train.images[0] - 95 / 255) < 1e-6);
  assert.deepEqual(npF32.test.labels, npU8.test.labels);
});

test('folder: PNG and JPEG class folders, classes in sorted order, RGB kept; a changed file is decoded again', async () => {
  const rgbTrain = patternImages(12, [6, 6, 3], 3, 3);
  const rgbTest = patternImages(6, [6, 6, 3], 3, 4);
  const dir = await writeImageFolder(join(tmp, 'pics'), rgbTrain, rgbTest, [6, 6, 3], ['cat', 'dog', 'eel'], true);
  const a = await loadDataset('folder:pics', tmp);
  assert.deepEqual(a.shape, [6, 6, 3]);
  assert.deepEqual(a.classNames, ['cat', 'dog', 'eel']);
  assert.equal(a.train.count, 12);
  assert.equal(a.test.count, 6);
  // The first training image is a lossless PNG of class 0.
  assert.deepEqual(a.train.images.subarray(0, 108), rgbTrain.images.subarray(0, 108));
  assert.equal(await loadDataset('folder:pics', tmp), a);
  const gray = await writeImageFolder(join(tmp, 'gray'), patternImages(4, [5, 5, 1], 2, 5), patternImages(2, [5, 5, 1], 2, 6), [5, 5, 1], ['a', 'b']);
  assert.deepEqual((await loadDataset('folder:gray', tmp)).shape, [5, 5, 1]);
  // Replace one image: the listing's signature changes, so the folder is decoded again.
  const file = join(dir, 'train', 'eel', '0002.png');
  writeFileSync(file, readFileSync(join(gray, 'train', 'a', '0000.png')));
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  await assert.rejects(loadDataset('folder:pics', tmp), inputError(/eel\/0002\.png: 5x5 pixels, expected 6x6 like the first training image/));
});

test('folder: decoded images are cached under DATA_DIR/.quantlab-cache, keyed by the listing (a changed image misses)', async () => {
  const dir = await writeImageFolder(join(tmp, 'cached'), patternImages(4, [5, 5, 1], 2, 9), patternImages(2, [5, 5, 1], 2, 10), [5, 5, 1], ['a', 'b']);
  const listing = await listImageFolder(dir);
  const file = folderCacheFile(tmp, 'cached', listing);
  assert.match(file, /\.quantlab-cache\/folder-cached-[0-9a-f]{32}\.bin$/);
  const first = await loadImageFolder(listing, file);
  assert.ok(existsSync(file));
  // Garble an image but keep its size and time: the listing is the same, so the decoded copy is read, not the file.
  const img = join(dir, 'train', 'a', '0000.png');
  const st = statSync(img);
  writeFileSync(img, Buffer.alloc(st.size, 7));
  utimesSync(img, st.atime, st.mtime);
  const again = await loadImageFolder(await listImageFolder(dir), file);
  assert.deepEqual(again.train.images, first.train.images);
  assert.deepEqual(again.test.labels, first.test.labels);
  await assert.rejects(loadImageFolder(listing), inputError(/a\/0000\.png: not a readable PNG or JPEG image/), 'decoding it fails');
  assert.notEqual(folderCacheFile(tmp, 'cached', { ...listing, signature: `${listing.signature}x` }), file);
});

test('servableDatasets: the built-ins plus every idx folder, .npz file and image folder under DATA_DIR', () => {
  const served = servableDatasets(tmp);
  for (const d of ['mnist', 'fashion-mnist', 'synthetic', 'idx:plain', 'idx:zipped', 'npz:bytes', 'npz:np-u8', 'folder:pics', 'folder:gray']) assert.ok(served.includes(d), `${d} in ${served}`);
  assert.ok(!served.some((d) => d.includes('quantlab-cache')), 'the decode cache is not a dataset');
  assert.ok(!served.includes('cifar10'), 'no CIFAR-10 files here');
  assert.deepEqual(servableDatasets(join(tmp, 'no-such-dir')), ['mnist', 'fashion-mnist', 'synthetic']);
});

test('malformed IDX files fail with the file and what was expected', async () => {
  const dir = writeIdxDataset(join(tmp, 'bad-idx'), train, test_, 8);
  truncateSync(join(dir, 'train-images-idx3-ubyte'), 16 + 100);
  await assert.rejects(loadDataset('idx:bad-idx', tmp), inputError(/train-images-idx3-ubyte: the header says \[30, 8, 8\] \(1920 bytes of data\), the file has 100/));
  writeIdxDataset(dir, train, patternImages(11, [8, 8, 1], 3, 2), 8);
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), readFileSync(join(dir, 'train-labels-idx1-ubyte')));
  await assert.rejects(loadDataset('idx:bad-idx', tmp), inputError(/t10k-labels-idx1-ubyte: 30 labels, expected 11/));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), 'GIF89a not idx');
  await assert.rejects(loadDataset('idx:bad-idx', tmp), inputError(/t10k-labels-idx1-ubyte: not an IDX file/));
  rmSync(join(dir, 't10k-labels-idx1-ubyte'));
  await assert.rejects(loadDataset('idx:bad-idx', tmp), inputError(/t10k-labels-idx1-ubyte: missing \(expected t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte\.gz/));
  const gz = writeIdxDataset(join(tmp, 'bad-gz'), train, test_, 8, true);
  writeFileSync(join(gz, 'train-images-idx3-ubyte.gz'), readFileSync(join(gz, 'train-images-idx3-ubyte.gz')).subarray(0, 40));
  await assert.rejects(loadDataset('idx:bad-gz', tmp), inputError(/train-images-idx3-ubyte\.gz: not a readable gzip file/));
  await assert.rejects(loadDataset('idx:nothing', tmp), inputError(/nothing\/train-images-idx3-ubyte: missing/));
});

test('malformed .npz archives fail with the file and what was expected', async () => {
  const file = (name: string) => join(tmp, `${name}.npz`);
  const y = npyBytes('|u1', [2], Uint8Array.from([0, 1]));
  const x = npyBytes('|u1', [2, 2, 2, 1], new Uint8Array(8));
  writeFileSync(file('no-test'), zipBytes({ 'x_train.npy': x, 'y_train.npy': y }, false));
  await assert.rejects(loadDataset('npz:no-test', tmp), inputError(/no-test\.npz: no array x_test; expected x_train, y_train, x_test, y_test .* found x_train, y_train/));
  writeFileSync(file('f64'), zipBytes({ 'x_train.npy': npyBytes('<f8', [2, 2, 2], new Uint8Array(64)), 'y_train.npy': y, 'x_test.npy': x, 'y_test.npy': y }, false));
  await assert.rejects(loadDataset('npz:f64', tmp), inputError(/f64\.npz: x_train: dtype f8; expected uint8 or float32 images/));
  writeFileSync(file('neg'), zipBytes({ 'x_train.npy': x, 'y_train.npy': npyBytes('<i4', [2], new Uint8Array(Int32Array.from([0, -3]).buffer)), 'x_test.npy': x, 'y_test.npy': y }, false));
  await assert.rejects(loadDataset('npz:neg', tmp), inputError(/neg\.npz: y_train: label -3 at index 1; expected class numbers 0\.\.255/));
  writeFileSync(file('short'), zipBytes({ 'x_train.npy': x.subarray(0, x.length - 3), 'y_train.npy': y, 'x_test.npy': x, 'y_test.npy': y }, true));
  await assert.rejects(loadDataset('npz:short', tmp), inputError(/short\.npz: x_train: shape \(2, 2, 2, 1\) of u1 needs 8 bytes of data, the array has 5/));
  const flipped = zipBytes({ 'x_train.npy': x, 'y_train.npy': y, 'x_test.npy': x, 'y_test.npy': y }, false);
  flipped[41 + 130] ^= 0xff; // a pixel of x_train (after its 30-byte local header, name and 128-byte .npy header)
  writeFileSync(file('crc'), flipped);
  await assert.rejects(loadDataset('npz:crc', tmp), inputError(/crc\.npz: not a readable \.npz \(zip\) archive: .* fails its CRC check|crc\.npz: not a readable/));
  // A central directory entry whose extra field runs past the end of the file: a clear input error, not a RangeError
  // the worker would retry as if it were transient.
  const overrun = zipBytes({ 'x_train.npy': x, 'y_train.npy': y, 'x_test.npy': x, 'y_test.npy': y }, false);
  const eocd = overrun.length - 22;
  const view = new DataView(overrun.buffer, overrun.byteOffset, overrun.byteLength);
  let entry = view.getUint32(eocd + 16, true);
  for (let e = 0; e < 3; e++) entry += 46 + view.getUint16(entry + 28, true) + view.getUint16(entry + 30, true) + view.getUint16(entry + 32, true);
  view.setUint16(entry + 30, 0xfff0, true);
  writeFileSync(file('overrun'), overrun);
  await assert.rejects(loadDataset('npz:overrun', tmp), inputError(/overrun\.npz: not a readable \.npz \(zip\) archive: a field points past its end/));
  // A version-2 .npy of 10 bytes: too short for its 4-byte header length.
  const v2 = npyBytes('|u1', [2], Uint8Array.from([0, 1])).slice(0, 10);
  v2[6] = 2;
  writeFileSync(file('npy-v2'), zipBytes({ 'x_train.npy': x, 'y_train.npy': v2, 'x_test.npy': x, 'y_test.npy': y }, false));
  await assert.rejects(loadDataset('npz:npy-v2', tmp), inputError(/npy-v2\.npz: y_train: the \.npy header is truncated/));
  writeFileSync(file('text'), 'x_train,y_train\n1,2\n');
  await assert.rejects(loadDataset('npz:text', tmp), inputError(/text\.npz: not a readable \.npz \(zip\) archive: no end-of-central-directory record/));
  await assert.rejects(loadDataset('npz:absent', tmp), inputError(/absent\.npz: cannot read it \(ENOENT\); expected a NumPy \.npz archive/));
});

test('malformed image folders fail with the file and what was expected', async () => {
  const dir = await writeImageFolder(join(tmp, 'bad-pics'), patternImages(4, [5, 5, 1], 2, 7), patternImages(2, [5, 5, 1], 2, 8), [5, 5, 1], ['a', 'b']);
  writeFileSync(join(dir, 'test', 'b', '0001.png'), readFileSync(join(dir, 'test', 'b', '0001.png')).subarray(0, 30));
  await assert.rejects(loadDataset('folder:bad-pics', tmp), inputError(/test\/b\/0001\.png: not a readable PNG or JPEG image/));
  mkdirSync(join(dir, 'test', 'zebra'));
  await assert.rejects(loadDataset('folder:bad-pics', tmp), inputError(/bad-pics\/test: class folder\(s\) zebra are not in train\/ \(a, b\)/));
  mkdirSync(join(tmp, 'one-class', 'train', 'only'), { recursive: true });
  await assert.rejects(loadDataset('folder:one-class', tmp), inputError(/one-class\/train: 1 class folder\(s\); expected at least two/));
  await assert.rejects(loadDataset('folder:missing', tmp), inputError(/missing\/train: cannot read it \(ENOENT\)/));
  // 257 classes do not fit the byte each label is held in (refused at listing, before any image is read).
  for (let c = 0; c < 257; c++) mkdirSync(join(tmp, 'many-classes', 'train', `c${String(c).padStart(3, '0')}`), { recursive: true });
  mkdirSync(join(tmp, 'many-classes', 'test'));
  await assert.rejects(loadDataset('folder:many-classes', tmp), inputError(/many-classes\/train: 257 class folders; at most 256 classes are supported/));
});
