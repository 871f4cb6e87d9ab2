/**
 * Deterministic, stratified ordering of images. Every split is stored class-interleaved (round robin over the
 * classes, file order within a class), so "the first N images" of a split is itself stratified by class: that is how
 * trainLimit / testLimit pick their subsets, the same for every run and seed.
 */
import type { Split } from './types.ts';

/** Indices of `labels` interleaved by class: c0[0], c1[0], ..., c0[1], c1[1], ... (classes that run out drop out). */
export function interleaveByClass(labels: ArrayLike<number>, numClasses: number): number[] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const out: number[] = [];
  for (let k = 0; out.length < labels.length; k++) {
    for (const list of byClass) if (k < list.length) out.push(list[k]);
  }
  return out;
}

/** A new split holding `indices` of `from`, in that order. */
export function gather(from: Split, indices: readonly number[], imageSize: number): Split {
  const images = from.images instanceof Float32Array ? new Float32Array(indices.length * imageSize) : new Uint8Array(indices.length * imageSize);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, dst) => {
    images.set(from.images.subarray(src * imageSize, (src + 1) * imageSize), dst * imageSize);
    labels[dst] = from.labels[src];
  });
  return { images, labels, count: indices.length };
}

/** The first `limit` images of an interleaved split (a stratified subset); the split itself when no limit. */
export function head(split: Split, limit: number | undefined, imageSize: number): Split {
  if (limit === undefined || limit >= split.count) return split;
  return { images: split.images.subarray(0, limit * imageSize), labels: split.labels.subarray(0, limit), count: limit };
}

/**
 * Splits per-class image lists into train and test: of each class's n images (file order), the first
 * ceil(n * trainFraction) train and the rest test; then both splits are interleaved by class.
 */
export function stratifiedSplit(perClass: Uint8Array[], imageSize: number, trainFraction: number): { train: Split; test: Split } {
  const parts = { train: [] as [number, Uint8Array][], test: [] as [number, Uint8Array][] };
  perClass.forEach((images, label) => {
    const n = images.length / imageSize;
    const nTrain = Math.ceil(n * trainFraction);
    parts.train.push([label, images.subarray(0, nTrain * imageSize)]);
    parts.test.push([label, images.subarray(nTrain * imageSize)]);
  });
  const build = (list: [number, Uint8Array][]): Split => {
    const count = list.reduce((s, [, a]) => s + a.length / imageSize, 0);
    const all: Split = { images: new Uint8Array(count * imageSize), labels: new Uint8Array(count), count };
    let at = 0;
    for (const [label, a] of list) {
      all.images.set(a, at * imageSize);
      all.labels.fill(label, at, at + a.length / imageSize);
      at += a.length / imageSize;
    }
    return gather(all, interleaveByClass(all.labels, perClass.length), imageSize);
  };
  return { train: build(parts.train), test: build(parts.test) };
}
