/**
 * Fitting dictionaries on sorted weights. Once a layer's weights are sorted with their prefix sums, every cell of a
 * dictionary (the weights nearest one entry) is a contiguous run found by binary search, so quantiles, a Lloyd
 * iteration and the least-squares scale each cost O(entries · log n) instead of a pass over all weights.
 */

/** Weights sorted ascending with prefix sums: prefix[i] = Σ sorted[0..i). */
export interface SortedWeights {
  sorted: Float32Array;
  prefix: Float64Array;
}

/** Maps float32 bit patterns to unsigned keys in the same order as the values (negative: flip all; else the sign). */
function toKey(b: number): number {
  return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
}

function fromKey(k: number): number {
  return (k & 0x80000000 ? k ^ 0x80000000 : ~k) >>> 0;
}

/** A sorted copy of float32 values: LSD radix sort on the bit patterns (3 passes of 11 bits), several times faster than Array.prototype.sort here. */
export function radixSortFloat32(values: Float32Array): Float32Array {
  const n = values.length;
  const src = new Uint32Array(values.buffer, values.byteOffset, n);
  let a = new Uint32Array(n);
  let b = new Uint32Array(n);
  const counts = new Uint32Array(3 * 2048);
  for (let i = 0; i < n; i++) {
    const k = toKey(src[i]);
    a[i] = k;
    counts[k & 2047]++;
    counts[2048 + ((k >>> 11) & 2047)]++;
    counts[4096 + (k >>> 22)]++;
  }
  for (let pass = 0; pass < 3; pass++) {
    const base = pass * 2048;
    const shift = pass * 11;
    if (counts[base + ((a[0] >>> shift) & 2047)] === n) continue; // every key has the same digit
    let sum = 0;
    for (let d = 0; d < 2048; d++) {
      const c = counts[base + d];
      counts[base + d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = a[i];
      b[counts[base + ((k >>> shift) & 2047)]++] = k;
    }
    const t = a;
    a = b;
    b = t;
  }
  for (let i = 0; i < n; i++) a[i] = fromKey(a[i]);
  return new Float32Array(a.buffer, 0, n);
}

export function sortWeights(values: Float32Array): SortedWeights {
  const sorted = radixSortFloat32(values);
  const prefix = new Float64Array(sorted.length + 1);
  let s = 0;
  for (let i = 0; i < sorted.length; i++) {
    s += sorted[i];
    prefix[i + 1] = s;
  }
  return { sorted, prefix };
}

/** Number of values <= x. */
export function upperBound(sorted: Float32Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The p-quantile (0..1) with linear interpolation between order statistics. */
export function quantile(sorted: Float32Array, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const pos = p * (n - 1);
  const i = Math.floor(pos);
  const j = Math.min(i + 1, n - 1);
  return sorted[i] + (pos - i) * (sorted[j] - sorted[i]);
}

/** Midpoints between consecutive sorted entries: the cell boundaries of nearest-entry encoding. */
export function midpoints(entries: ArrayLike<number>, out = new Float64Array(Math.max(0, entries.length - 1))): Float64Array {
  for (let k = 0; k + 1 < entries.length; k++) out[k] = (entries[k] + entries[k + 1]) / 2;
  return out;
}

/**
 * `size` initial entries, sorted. uniform: evenly spaced from the smallest to the largest weight (both included);
 * nonuniform: the quantiles (k + ½)/size, so each entry starts with the same share of the weights.
 */
export function initialEntries(data: SortedWeights, size: number, init: 'uniform' | 'nonuniform'): Float64Array {
  const { sorted } = data;
  const out = new Float64Array(size);
  if (sorted.length === 0) return out;
  if (init === 'uniform') {
    const lo = sorted[0];
    const hi = sorted[sorted.length - 1];
    for (let k = 0; k < size; k++) out[k] = size === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * k) / (size - 1);
  } else {
    for (let k = 0; k < size; k++) out[k] = quantile(sorted, (k + 0.5) / size);
  }
  return out;
}

/**
 * Count and sum of the weights in each cell of `entries` (sorted) when weights are encoded as w / scale: cell k holds
 * the w with scale·m(k−1) < w <= scale·m(k), m being the midpoints, as the encoder assigns them.
 */
export function cellStats(data: SortedWeights, entries: ArrayLike<number>, scale: number, counts: Float64Array, sums: Float64Array): void {
  const { sorted, prefix } = data;
  const size = entries.length;
  let prev = 0;
  for (let k = 0; k < size; k++) {
    const end = k === size - 1 ? sorted.length : upperBound(sorted, (scale * (entries[k] + entries[k + 1])) / 2);
    const hi = Math.max(end, prev);
    counts[k] = hi - prev;
    sums[k] = prefix[hi] - prefix[prev];
    prev = hi;
  }
}

/** Lloyd (1-D k-means) iterations in place: each entry moves to the mean of its cell; empty cells keep theirs. */
export function lloyd(data: SortedWeights, entries: Float64Array, iterations: number): void {
  const counts = new Float64Array(entries.length);
  const sums = new Float64Array(entries.length);
  for (let it = 0; it < iterations; it++) {
    cellStats(data, entries, 1, counts, sums);
    let moved = false;
    for (let k = 0; k < entries.length; k++) {
      if (counts[k] === 0) continue;
      const m = sums[k] / counts[k];
      if (m !== entries[k]) moved = true;
      entries[k] = m;
    }
    entries.sort();
    if (!moved) break;
  }
}

/**
 * The per-layer scale of a shared dictionary: alternately assign each weight to its nearest scaled entry and set
 * s = <w, d> / <d, d> (the least-squares scale for those codes). Each half-step lowers the layer's MSE.
 */
export function fitScale(data: SortedWeights, entries: Float32Array, start: number, maxIterations = 8): number {
  const counts = new Float64Array(entries.length);
  const sums = new Float64Array(entries.length);
  let s = start;
  for (let it = 0; it < maxIterations; it++) {
    cellStats(data, entries, s, counts, sums);
    let num = 0;
    let den = 0;
    for (let k = 0; k < entries.length; k++) {
      num += entries[k] * sums[k];
      den += entries[k] * entries[k] * counts[k];
    }
    if (!(den > 0) || !(num > 0)) break;
    const next = num / den;
    const done = Math.abs(next - s) <= 1e-9 * s;
    s = next;
    if (done) break;
  }
  return s;
}
