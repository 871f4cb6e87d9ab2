/**
 * Fitting dictionaries on sorted weights. Once a layer's weights are sorted with their prefix sums, every cell of a
 * dictionary (the weights nearest one entry) is a contiguous run found by binary search, so a Lloyd iteration and
 * the least-squares scale each cost O(entries · log n) instead of a pass over all weights.
 */

/** Weights sorted ascending with prefix sums: prefix[i] = Σ sorted[0..i), prefixSq[i] = Σ sorted[0..i)². */
export interface SortedWeights {
  sorted: Float32Array;
  prefix: Float64Array;
  prefixSq: Float64Array;
  /** Every COARSE-th sorted value: a cache-friendly first level for binary searches over large layers. */
  coarse: Float32Array;
}

const COARSE = 64;

/** Maps float32 bit patterns to unsigned keys in the same order as the values (negative: flip all; else the sign). */
function toKey(b: number): number {
  return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
}

function fromKey(k: number): number {
  return (k & 0x80000000 ? k ^ 0x80000000 : ~k) >>> 0;
}

/** Sorts float32 bit-pattern keys (toKey) with an LSD radix sort, 3 passes of 11 bits; returns the sorted keys. */
function radixSortKeys(values: Float32Array): Uint32Array {
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
  return a;
}

/** A sorted copy of float32 values: LSD radix sort on the bit patterns, several times faster than Array.prototype.sort here. */
export function radixSortFloat32(values: Float32Array): Float32Array {
  const keys = radixSortKeys(values);
  for (let i = 0; i < keys.length; i++) keys[i] = fromKey(keys[i]);
  return new Float32Array(keys.buffer, 0, keys.length);
}

export function sortWeights(values: Float32Array): SortedWeights {
  const n = values.length;
  const keys = radixSortKeys(values);
  const sorted = new Float32Array(keys.buffer, 0, n);
  const prefix = new Float64Array(n + 1);
  const prefixSq = new Float64Array(n + 1);
  let s = 0;
  let sq = 0;
  // One pass turns the keys back into values and accumulates the prefix sums.
  for (let i = 0; i < n; i++) {
    keys[i] = fromKey(keys[i]);
    const v = sorted[i];
    s += v;
    sq += v * v;
    prefix[i + 1] = s;
    prefixSq[i + 1] = sq;
  }
  const coarse = new Float32Array(Math.ceil(n / COARSE));
  for (let i = 0; i < coarse.length; i++) coarse[i] = sorted[i * COARSE];
  return { sorted, prefix, prefixSq, coarse };
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

/** Number of values <= x, searching the coarse level first. */
export function countAtMost(data: SortedWeights, x: number): number {
  const { sorted, coarse } = data;
  const c = upperBound(coarse, x);
  if (c === 0) return 0;
  let lo = (c - 1) * COARSE + 1;
  let hi = Math.min(c * COARSE, sorted.length);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Midpoints between consecutive sorted entries: the cell boundaries of nearest-entry encoding. */
export function midpoints(entries: ArrayLike<number>, out = new Float64Array(Math.max(0, entries.length - 1))): Float64Array {
  for (let k = 0; k + 1 < entries.length; k++) out[k] = (entries[k] + entries[k + 1]) / 2;
  return out;
}

/**
 * `size` initial entries, sorted. uniform: evenly spaced from the smallest to the largest weight (both included);
 * nonuniform: companded (see compandedEntries).
 */
export function initialEntries(data: SortedWeights, size: number, init: 'uniform' | 'nonuniform'): Float64Array {
  const { sorted } = data;
  if (sorted.length === 0) return new Float64Array(size);
  return init === 'uniform' ? evenlySpaced(sorted[0], sorted[sorted.length - 1], size) : compandedEntries([data], [1], size);
}

/**
 * Entries placed with a density proportional to the cube root of the weights' density: the point density that
 * minimizes the squared error of a quantizer with many levels (Panter & Dite, 1951). Plain quantiles (density ∝ p)
 * crowd the middle and leave the tails, where the largest errors are, with few entries: from 6 bits on they lost
 * 6–12 dB to evenly spaced entries, and Lloyd iterations recovered little of it; cube-root spacing beats both.
 *
 * The weights are those of several layers, layer l divided by scales[l] (> 0), pooled. Their density comes from
 * about 2√n bins of equal counts (edges at the pooled quantiles j/bins), so it is as well estimated in the sparse
 * tails as in the middle: a bin of width w holds ∫p^(1/3) ∝ w^(2/3). Inverting the cumulative sum at (k + ½)/size,
 * linearly inside a bin, gives the entries.
 */
export function compandedEntries(data: readonly SortedWeights[], scales: ArrayLike<number>, size: number): Float64Array {
  const out = new Float64Array(size);
  const total = data.reduce((a, d) => a + d.sorted.length, 0);
  if (total === 0) return out;
  const bins = Math.max(1, Math.min(total - 1, Math.round(2 * Math.sqrt(total))));
  const edges = pooledQuantiles(data, scales, Float64Array.from({ length: bins + 1 }, (_, j) => j / bins));
  const cumulative = new Float64Array(bins + 1);
  for (let b = 0; b < bins; b++) cumulative[b + 1] = cumulative[b] + Math.cbrt((edges[b + 1] - edges[b]) ** 2);
  if (!(cumulative[bins] > 0)) return out.fill(edges[0]); // all weights equal
  let b = 0;
  for (let k = 0; k < size; k++) {
    const target = ((k + 0.5) / size) * cumulative[bins];
    while (b < bins - 1 && cumulative[b + 1] < target) b++;
    const mass = cumulative[b + 1] - cumulative[b];
    out[k] = edges[b] + (mass > 0 ? (target - cumulative[b]) / mass : 0.5) * (edges[b + 1] - edges[b]);
  }
  return out;
}

/**
 * The quantiles at `probs` (ascending, in [0, 1]) of the union of several layers, layer l divided by scales[l]
 * (> 0, so each stays sorted), interpolating linearly between order statistics: a merge walk over the sorted layers
 * up to the last rank needed, without sorting the pool.
 */
export function pooledQuantiles(data: readonly SortedWeights[], scales: ArrayLike<number>, probs: ArrayLike<number>): Float64Array {
  const size = probs.length;
  const out = new Float64Array(size);
  const layers = data.length;
  const total = data.reduce((a, d) => a + d.sorted.length, 0);
  if (total === 0) return out;
  const heads = new Int32Array(layers);
  const current = new Float64Array(layers); // each layer's next value, scaled; +Infinity when exhausted
  for (let l = 0; l < layers; l++) current[l] = data[l].sorted.length ? data[l].sorted[0] / scales[l] : Infinity;
  let k = 0;
  let v = 0;
  for (let r = 0; r < total && k < size; r++) {
    let best = 0;
    for (let l = 1; l < layers; l++) if (current[l] < current[best]) best = l;
    const prev = v;
    v = current[best];
    const h = ++heads[best];
    const sorted = data[best].sorted;
    current[best] = h < sorted.length ? sorted[h] / scales[best] : Infinity;
    // Quantile k interpolates ranks i = ⌊pos⌋ and j = min(i + 1, total − 1); it is complete once rank j is known.
    while (k < size) {
      const pos = probs[k] * (total - 1);
      const i = Math.floor(pos);
      const j = Math.min(i + 1, total - 1);
      if (j !== r) break;
      const vi = i === r ? v : prev;
      out[k++] = vi + (pos - i) * (v - vi);
    }
  }
  return out;
}

/** `size` values evenly spaced from lo to hi, both included. */
export function evenlySpaced(lo: number, hi: number, size: number): Float64Array {
  const out = new Float64Array(size);
  for (let k = 0; k < size; k++) out[k] = size === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * k) / (size - 1);
  return out;
}

/** Per-cell statistics of one layer: count, Σw and Σw² of the weights nearest each entry. */
export interface CellStats {
  counts: Float64Array;
  sums: Float64Array;
  squares: Float64Array;
}

export function cellStatsFor(size: number): CellStats {
  return { counts: new Float64Array(size), sums: new Float64Array(size), squares: new Float64Array(size) };
}

/**
 * Fills `out` for `entries` (sorted) when weights are encoded as w / scale: cell k holds the w with
 * scale·m(k−1) < w <= scale·m(k), m being the midpoints, as the encoder assigns them.
 */
export function cellStats(data: SortedWeights, entries: ArrayLike<number>, scale: number, out: CellStats): void {
  const { sorted, prefix, prefixSq } = data;
  const size = entries.length;
  let prev = 0;
  for (let k = 0; k < size; k++) {
    const end = k === size - 1 ? sorted.length : countAtMost(data, (scale * (entries[k] + entries[k + 1])) / 2);
    const hi = Math.max(end, prev);
    out.counts[k] = hi - prev;
    out.sums[k] = prefix[hi] - prefix[prev];
    out.squares[k] = prefixSq[hi] - prefixSq[prev];
    prev = hi;
  }
}

/** Σ (w − scale·d(code))² of a layer with nearest-entry codes at this scale, in O(entries · log n). */
export function sseAt(data: SortedWeights, entries: ArrayLike<number>, scale: number, stats: CellStats): number {
  cellStats(data, entries, scale, stats);
  let sse = 0;
  for (let k = 0; k < entries.length; k++) {
    const d = scale * entries[k];
    sse += stats.squares[k] - 2 * d * stats.sums[k] + d * d * stats.counts[k];
  }
  return Math.max(0, sse);
}

/**
 * One Lloyd (1-D k-means) step on one or more layers sharing `entries`, layer l decoded as entry × scales[l]:
 * assign every weight to its nearest scaled entry, then move each entry to the value minimizing the total squared
 * error of its cell, Σ_l s_l·Σw / Σ_l s_l²·count (the plain cell mean when there is one layer with scale 1).
 * An entry no weight is nearest to would waste its code: it is re-seeded by splitting the largest cell (most
 * weights) at its centroid, the two entries going to the centroids of its two halves. Neither step increases the
 * total error (a split cell's two half-centroids fit it at least as well as its centroid). Returns whether an
 * entry moved.
 */
export function lloydStep(data: readonly SortedWeights[], scales: ArrayLike<number>, entries: Float64Array, stats: CellStats): boolean {
  const size = entries.length;
  const num = new Float64Array(size);
  const den = new Float64Array(size);
  const count = new Float64Array(size);
  data.forEach((d, l) => {
    const s = scales[l];
    cellStats(d, entries, s, stats);
    for (let k = 0; k < size; k++) {
      num[k] += s * stats.sums[k];
      den[k] += s * s * stats.counts[k];
      count[k] += stats.counts[k];
    }
  });
  const old = Float64Array.from(entries);
  let moved = false;
  for (let k = 0; k < size; k++) {
    if (!(den[k] > 0)) continue;
    const e = num[k] / den[k];
    if (e !== entries[k]) moved = true;
    entries[k] = e;
  }
  const split = new Uint8Array(size);
  for (let k = 0; k < size; k++) {
    if (den[k] > 0) continue;
    // The largest cell not split yet whose weights are not all equal (a cell of one value cannot be split).
    let halves: { lo: number; hi: number } | null = null;
    let j = -1;
    while (halves === null) {
      j = -1;
      for (let c = 0; c < size; c++) if (!split[c] && count[c] >= 2 && (j < 0 || count[c] > count[j])) j = c;
      if (j < 0) break;
      split[j] = 1;
      halves = splitCell(data, scales, old, j, entries[j]);
    }
    if (!halves) break; // nothing left to split: the remaining entries stay where they are
    entries[j] = halves.lo;
    entries[k] = halves.hi;
    moved = true;
  }
  entries.sort();
  return moved;
}

/**
 * The centroids of the two halves of cell `j` (assigned with the entries `assigned`) cut at `at`: the weights at
 * most at·s_l and those above, over all layers; null when one half is empty.
 */
function splitCell(data: readonly SortedWeights[], scales: ArrayLike<number>, assigned: Float64Array, j: number, at: number): { lo: number; hi: number } | null {
  const size = assigned.length;
  let numLo = 0;
  let denLo = 0;
  let numHi = 0;
  let denHi = 0;
  data.forEach((d, l) => {
    const s = scales[l];
    const a = j === 0 ? 0 : countAtMost(d, (s * (assigned[j - 1] + assigned[j])) / 2);
    const b = j === size - 1 ? d.sorted.length : countAtMost(d, (s * (assigned[j] + assigned[j + 1])) / 2);
    if (b <= a) return;
    const cut = Math.min(b, Math.max(a, countAtMost(d, s * at)));
    numLo += s * (d.prefix[cut] - d.prefix[a]);
    denLo += s * s * (cut - a);
    numHi += s * (d.prefix[b] - d.prefix[cut]);
    denHi += s * s * (b - cut);
  });
  if (!(denLo > 0 && denHi > 0)) return null;
  return { lo: numLo / denLo, hi: numHi / denHi };
}

/** Lloyd iterations of a single layer (scale 1), in place. */
export function lloyd(data: SortedWeights, entries: Float64Array, iterations: number): void {
  const stats = cellStatsFor(entries.length);
  for (let it = 0; it < iterations; it++) if (!lloydStep([data], [1], entries, stats)) break;
}

/**
 * What a scale search needs: the exact squared error at a scale, and the least-squares scale for the codes that
 * scale gives (null when it has none). A dictionary's layer scores through its cells; a fixed-point layer by a pass.
 */
export interface ScaleObjective {
  sse(scale: number): number;
  leastSquares(scale: number): number | null;
}

/** A layer against a shared dictionary, scored on its sorted weights in O(entries · log n). */
export function dictionaryObjective(data: SortedWeights, entries: ArrayLike<number>, stats = cellStatsFor(entries.length)): ScaleObjective {
  return {
    sse: (s) => sseAt(data, entries, s, stats),
    leastSquares: (s) => {
      cellStats(data, entries, s, stats);
      let num = 0;
      let den = 0;
      for (let k = 0; k < entries.length; k++) {
        num += entries[k] * stats.sums[k];
        den += entries[k] * entries[k] * stats.counts[k];
      }
      return den > 0 && num > 0 ? num / den : null;
    },
  };
}

/**
 * The scale minimizing a layer's squared error against a shared dictionary (codes re-chosen for every scale).
 * With `search`: a scan of start × 2^(j/8) for j = −24..8 (heavy tails can put the optimum far below a scale that
 * reaches the largest |w|) and a golden-section search around the best point.
 * Then, always: alternate nearest-entry codes and s = <w, d> / <d, d> (the least-squares scale for fixed codes)
 * while that lowers the error. Every candidate is scored exactly, so the result is never worse than `start`.
 */
export function fitScale(
  data: SortedWeights,
  entries: ArrayLike<number>,
  start: number,
  stats = cellStatsFor(entries.length),
  search = true,
): number {
  if (!(start > 0) || data.sorted.length === 0) return start > 0 ? start : 1;
  return searchScale(dictionaryObjective(data, entries, stats), start, search);
}

/**
 * fitScale's search on any objective (the same one for dictionaries and for fixed point's `mse` range): the scan
 * takes `perOctave` points an octave (8 for dictionaries, whose error costs O(K log n) a point; fixed point's costs
 * a pass, and its jagged error profile wants a finer scan).
 */
export function searchScale(objective: ScaleObjective, start: number, search = true, perOctave = 8): number {
  let best = start;
  let bestSse = objective.sse(start);
  const consider = (s: number) => {
    if (!(s > 0) || !Number.isFinite(s)) return;
    const e = objective.sse(s);
    if (e < bestSse) {
      best = s;
      bestSse = e;
    }
  };
  if (search) {
    for (let j = -3 * perOctave; j <= perOctave; j++) if (j !== 0) consider(start * 2 ** (j / perOctave));
    // Golden-section search on [best / r, best · r] (the error is piecewise quadratic in s, unimodal near a minimum).
    const r = 2 ** (1 / perOctave);
    let a = best / r;
    let b = best * r;
    const g = (Math.sqrt(5) - 1) / 2;
    let c = b - g * (b - a);
    let d = a + g * (b - a);
    let fc = objective.sse(c);
    let fd = objective.sse(d);
    for (let it = 0; it < 20 && b - a > 1e-6 * best; it++) {
      if (fc <= fd) {
        b = d;
        d = c;
        fd = fc;
        c = b - g * (b - a);
        fc = objective.sse(c);
      } else {
        a = c;
        c = d;
        fc = fd;
        d = a + g * (b - a);
        fd = objective.sse(d);
      }
    }
    consider(fc <= fd ? c : d);
  }
  for (let it = 0; it < 10; it++) {
    const ls = objective.leastSquares(best);
    if (ls === null) break;
    const before = bestSse;
    consider(ls);
    if (!(bestSse < before)) break;
  }
  return best;
}
