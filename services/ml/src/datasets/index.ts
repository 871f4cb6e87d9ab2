/**
 * Datasets by name: the built-ins, and `idx:NAME`, `npz:NAME`, `folder:NAME` under DATA_DIR (names are letters, digits,
 * _ and - only, so no request reaches outside DATA_DIR). Each is loaded once per process and cached until its files
 * change; a run then takes stratified subsets and computes its normalization from the training images it uses.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DATASET_NAME, DATASETS, datasetRef, type DatasetRef } from '@quantlab/shared';
import { RunInputError } from '../errors.ts';
import { loadCifar10 } from './cifar10.ts';
import { filesSignature, readDataFile } from './files.ts';
import { IDX_FILES, loadIdx } from './idx.ts';
import { folderCacheFile, listImageFolder, loadImageFolder, type FolderListing } from './image-folder.ts';
import { decodeNpz } from './npz.ts';
import { loadNpmImages } from './npm-images.ts';
import { head } from './split.ts';
import { makeSynthetic } from './synthetic.ts';
import type { DatasetName, Normalization, PreparedDataset, RawDataset, Split } from './types.ts';

export type { DatasetName, Normalization, PreparedDataset, RawDataset, Split } from './types.ts';
export { fillBatch } from './batches.ts';

const cache = new Map<string, { signature: string; data: Promise<RawDataset> }>();

export function imageSize(ds: { shape: readonly number[] }): number {
  return ds.shape[0] * ds.shape[1] * ds.shape[2];
}

function refOf(name: DatasetName): DatasetRef {
  try {
    return datasetRef(name);
  } catch {
    throw new RunInputError(`unknown dataset "${String(name)}"`);
  }
}

/** Where a user dataset lives under DATA_DIR. */
export function datasetPath(ref: DatasetRef, dataDir: string): string {
  return ref.kind === 'npz' ? join(dataDir, `${ref.name}.npz`) : join(dataDir, ref.name);
}

/** What the cached copy depends on: the source files' sizes and times (cheap to recompute each run). */
async function signatureOf(ref: DatasetRef, dataDir: string): Promise<{ signature: string; listing?: FolderListing }> {
  if (ref.kind === 'builtin') return { signature: '' };
  const path = datasetPath(ref, dataDir);
  if (ref.kind === 'npz') return { signature: await filesSignature([path]) };
  if (ref.kind === 'idx') {
    const names = Object.values(IDX_FILES).flatMap((f) => [f, f.replace('-idx', '.idx')]).flatMap((f) => [f, `${f}.gz`]);
    return { signature: await filesSignature(names.map((f) => join(path, f))) };
  }
  const listing = await listImageFolder(path);
  return { signature: listing.signature, listing };
}

/**
 * The datasets a worker with this DATA_DIR can serve, from the files' presence (not their contents, which a run
 * checks): the built-ins (cifar10 where its files are), every DATA_DIR/NAME/ holding train-images-idx3-ubyte[.gz]
 * (idx:NAME), every DATA_DIR/NAME.npz (npz:NAME) and every DATA_DIR/NAME/ with train/ and test/ (folder:NAME).
 */
export function servableDatasets(dataDir: string): string[] {
  const cifar = existsSync(join(dataDir, 'cifar-10-batches-bin')) || existsSync(join(dataDir, 'cifar-10-binary.tar.gz'));
  const out: string[] = DATASETS.filter((d) => d !== 'cifar10' || cifar);
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dataDir, { withFileTypes: true });
  } catch {
    return out;
  }
  const idxNames = [IDX_FILES.trainImages, IDX_FILES.trainImages.replace('-idx', '.idx')].flatMap((f) => [f, `${f}.gz`]);
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.isFile() && e.name.endsWith('.npz') && DATASET_NAME.test(e.name.slice(0, -4))) out.push(`npz:${e.name.slice(0, -4)}`);
    if (!e.isDirectory() || !DATASET_NAME.test(e.name)) continue;
    const dir = join(dataDir, e.name);
    if (idxNames.some((f) => existsSync(join(dir, f)))) out.push(`idx:${e.name}`);
    if (existsSync(join(dir, 'train')) && existsSync(join(dir, 'test'))) out.push(`folder:${e.name}`);
  }
  return out;
}

/** The whole dataset, loaded once per process (a failed load is not cached, so a fixed file is picked up). */
export async function loadDataset(name: DatasetName, dataDir: string): Promise<RawDataset> {
  const ref = refOf(name);
  const key = ref.kind === 'builtin' && ref.name !== 'cifar10' ? name : `${name}@${resolve(dataDir)}`;
  const { signature, listing } = await signatureOf(ref, dataDir);
  const hit = cache.get(key);
  if (hit && hit.signature === signature) return hit.data;
  const data = load(ref, dataDir, listing);
  cache.set(key, { signature, data });
  data.catch(() => {
    if (cache.get(key)?.data === data) cache.delete(key);
  });
  return data;
}

async function load(ref: DatasetRef, dataDir: string, listing?: FolderListing): Promise<RawDataset> {
  const name = ref.kind === 'builtin' ? ref.name : `${ref.kind}:${ref.name}`;
  const path = datasetPath(ref, dataDir);
  const rel = (p: string) => p.slice(resolve(dataDir).length + 1) || p;
  switch (ref.kind) {
    case 'builtin':
      switch (ref.name) {
        case 'mnist':
        case 'fashion-mnist':
          return loadNpmImages(ref.name);
        case 'cifar10':
          return loadCifar10(dataDir);
        case 'synthetic':
          return makeSynthetic();
      }
      break;
    case 'idx': {
      const d = await loadIdx(path);
      return {
        name,
        ...d,
        split: `the IDX files' own split (train-* train, t10k-* test), interleaved by class, so a limit takes a stratified subset`,
        source: d.files.map((f) => rel(resolve(f))).join(', '),
      };
    }
    case 'npz': {
      const d = decodeNpz(await readDataFile(path, 'a NumPy .npz archive'), path);
      return { name, ...d, split: 'the .npz file\'s own split (x_train/y_train train, x_test/y_test test), interleaved by class', source: rel(resolve(path)) };
    }
    case 'folder': {
      const files = listing ?? (await listImageFolder(path));
      const d = await loadImageFolder(files, folderCacheFile(dataDir, ref.name, files));
      return {
        name,
        ...d,
        numClasses: files.classes.length,
        classNames: files.classes,
        split: `the folder's own split (train/ train, test/ test), class index = sorted class folder, interleaved by class`,
        source: `${rel(resolve(path))}/ (${files.train.length + files.test.length} images)`,
      };
    }
  }
  throw new RunInputError(`unknown dataset "${name}"`);
}

/** Per-channel mean and standard deviation of x/255 over a split. */
export function channelStats(split: Split, channels: number): Normalization {
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  const { images } = split;
  for (let i = 0; i < images.length; i++) {
    const v = images[i] / 255;
    sum[i % channels] += v;
    sq[i % channels] += v * v;
  }
  const n = images.length / channels;
  const mean = Array.from(sum, (s) => s / n);
  const std = Array.from(sq, (s, c) => Math.sqrt(Math.max(s / n - mean[c] ** 2, 1e-12)));
  return { mean, std };
}

export function hashSplits(...splits: Split[]): string {
  const h = createHash('sha256');
  for (const s of splits) {
    h.update(s.images);
    h.update(s.labels);
  }
  return h.digest('hex');
}

/** The subsets one run uses (the first trainLimit / testLimit images of each interleaved split) and their statistics. */
export function prepareDataset(raw: RawDataset, limits: { trainLimit?: number; testLimit?: number }): PreparedDataset {
  const size = imageSize(raw);
  const train = head(raw.train, limits.trainLimit, size);
  const test = head(raw.test, limits.testLimit, size);
  if (train.count === 0 || test.count === 0) throw new RunInputError(`${raw.name}: the split is empty`);
  return { raw, train, test, norm: channelStats(train, raw.shape[2]), hash: hashSplits(train, test) };
}
