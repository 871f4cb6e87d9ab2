/**
 * Datasets by name (an allow-list: no user-supplied path reaches the file system). Each is loaded once per process and
 * cached; a run then takes stratified subsets and computes its normalization from the training images it uses.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { RunInputError } from '../errors.ts';
import { loadCifar10 } from './cifar10.ts';
import { loadNpmImages } from './npm-images.ts';
import { head } from './split.ts';
import { makeSynthetic } from './synthetic.ts';
import type { DatasetName, Normalization, PreparedDataset, RawDataset, Split } from './types.ts';

export type { DatasetName, Normalization, PreparedDataset, RawDataset, Split } from './types.ts';
export { fillBatch } from './batches.ts';

const cache = new Map<string, Promise<RawDataset>>();

export function imageSize(ds: { shape: readonly number[] }): number {
  return ds.shape[0] * ds.shape[1] * ds.shape[2];
}

/** The whole dataset, loaded once per process (a failed load is not cached, so a fixed file is picked up). */
export function loadDataset(name: DatasetName, dataDir: string): Promise<RawDataset> {
  const key = name === 'cifar10' ? `cifar10:${resolve(dataDir)}` : name;
  let p = cache.get(key);
  if (!p) {
    p = load(name, dataDir);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

async function load(name: DatasetName, dataDir: string): Promise<RawDataset> {
  switch (name) {
    case 'mnist':
    case 'fashion-mnist':
      return loadNpmImages(name);
    case 'cifar10':
      return loadCifar10(dataDir);
    case 'synthetic':
      return makeSynthetic();
    default:
      throw new RunInputError(`unknown dataset "${String(name)}"`);
  }
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
