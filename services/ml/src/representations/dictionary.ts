/**
 * Dictionary weights: every weight is entry[code] × scale, with 2^bits sorted float32 entries.
 *   global:    one dictionary for all layers, initialized on the weights pooled after dividing each layer by its
 *              max|w|; each layer gets the scale minimizing its MSE (search, then alternating nearest-entry codes
 *              and s = <w, d> / <d, d>); refine alternates scale-weighted Lloyd steps and scale fits.
 *   per-layer: one dictionary a layer, scale 1.
 * granularity "channel": every output channel is a unit with its own scale (global: the units of all layers share one
 *   dictionary; per-layer: a layer's channels share its dictionary), fitted exactly as global layers are.
 * init uniform: entries evenly spaced over the range; nonuniform: spaced by the cube root of the weights' density.
 * refine: Lloyd iterations on the (pooled) weights. Encoding: binary search over the midpoints between entries.
 * bitsPerLayer (per-layer scope): each layer's dictionary has 2^width entries; a layer at 32 stays float32.
 * update "gradient": dictionary-learn.ts trains the fitted entries and scales (setParameters writes them back).
 */
import type { DictionaryRepresentation, WeightError } from '@quantlab/shared';
import { packArtifact } from '../artifact/pack.ts';
import type { LayerRecord } from '../artifact/format.ts';
import { nativeQuantizers } from '../kernels/native/common.ts';
import type { Rng } from '../random.ts';
import {
  cellStatsFor,
  evenlySpaced,
  fitScale,
  initialEntries,
  lloyd,
  lloydStep,
  midpoints,
  compandedEntries,
  sortWeights,
} from './dictionary-fit.ts';
import { assertFinite, gatherUnit, unitsOf } from './channels.ts';
import { maxAbs, outputsFor, weightError } from './error-metrics.ts';
import { float32Records, type PackExtra } from './float32.ts';
import type { LayerWeights, WeightQuantizer } from './types.ts';
import { resolveWidths, type LayerWidth, type WidthParam } from './widths.ts';

/**
 * Nearest-entry encoding of `src` / scale into `dst` (decoded: entry × scale) and, when given, `codes`; weight i
 * uses scales[i mod scales.length]. `mids` are the size − 1 midpoints of the sorted entries. The code of x is the number
 * of midpoints below it (ties go to the lower entry). A table over the midpoints' range gives a starting code that a
 * step or two corrects: the same code a binary search over `mids` gives (see nearestCodeBySearch), at about a third of
 * its cost on 8-bit dictionaries, where the search's eight unpredictable branches a weight were a step's largest
 * quantizer cost. No allocation (the table's buffer is reused).
 */
export function quantizeDictionary(
  src: Float32Array,
  entries: Float32Array,
  mids: Float64Array,
  scales: Float64Array,
  dst: Float32Array,
  codes: Int32Array | null,
): void {
  const last = mids.length; // the largest code
  const n = src.length;
  const units = scales.length;
  const table = codeTable(mids);
  if (table === null) {
    let u = 0;
    for (let i = 0; i < n; i++) {
      const scale = scales[u];
      if (++u === units) u = 0;
      const c = nearestCodeBySearch(src[i] / scale, mids);
      dst[i] = entries[c] * scale;
      if (codes !== null) codes[i] = c;
    }
    return;
  }
  const { start, lo, inv, buckets } = table;
  let u = 0;
  for (let i = 0; i < n; i++) {
    const scale = scales[u];
    if (++u === units) u = 0;
    const x = src[i] / scale;
    const t = (x - lo) * inv;
    // NaN goes to code 0, as the search sends it (every comparison with NaN is false).
    let c = t >= 0 ? (t < buckets ? start[t | 0] : last) : 0;
    while (c > 0 && x <= mids[c - 1]) c--;
    while (c < last && x > mids[c]) c++;
    dst[i] = entries[c] * scale;
    if (codes !== null) codes[i] = c;
  }
}

/** The number of midpoints below x by binary search (size a power of two: log2(size) comparisons). */
export function nearestCodeBySearch(x: number, mids: Float64Array): number {
  let c = 0;
  for (let h = (mids.length + 1) >>> 1; h > 0; h >>>= 1) if (x > mids[c + h - 1]) c += h;
  return c;
}

const TABLE_PER_ENTRY = 4;
let tableBuffer = new Int32Array(0);

/**
 * start[b] = the number of midpoints below lo + b / inv, for `buckets` buckets over [mids[0], mids[last − 1]]; null when
 * the midpoints span no range (then the search is used). Only a starting point: quantizeDictionary corrects it both
 * ways, so rounding in the bucket arithmetic cannot change a code.
 */
function codeTable(mids: Float64Array): { start: Int32Array; lo: number; inv: number; buckets: number } | null {
  const m = mids.length;
  if (m < 2) return null;
  const lo = mids[0];
  const hi = mids[m - 1];
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return null;
  const buckets = (m + 1) * TABLE_PER_ENTRY;
  if (tableBuffer.length < buckets) tableBuffer = new Int32Array(buckets);
  const start = tableBuffer;
  const width = (hi - lo) / buckets;
  let c = 0;
  for (let b = 0; b < buckets; b++) {
    const edge = lo + b * width;
    while (c < m && mids[c] < edge) c++;
    start[b] = c;
  }
  return { start, lo, inv: buckets / (hi - lo), buckets };
}

/** Codes only, with a usage histogram (for unused entries). */
function countUsage(src: Float32Array, mids: Float64Array, scales: Float64Array, used: Uint8Array): void {
  for (let i = 0; i < src.length; i++) {
    used[nearestCodeBySearch(src[i] / scales[i % scales.length], mids)] = 1;
  }
}

function toFloat32Sorted(entries: Float64Array): Float32Array {
  const f = Float32Array.from(entries);
  return f.sort();
}

export class DictionaryQuantizer implements WeightQuantizer {
  private dicts: Float32Array[] = [];
  private mids: Float64Array[] = [];
  private scalesOf: Float64Array[] | null = null;
  private widthsOf: LayerWidth[] = [];
  /** Entries of the global dictionary (2^bits); per-layer dictionaries have 2^(their width). */
  readonly size: number;

  /** `params`: the quantized params with their kinds, so bitsPerLayer's layers can be told apart from biases. */
  constructor(
    readonly representation: DictionaryRepresentation,
    private readonly params?: readonly WidthParam[],
  ) {
    this.size = 2 ** representation.bits;
  }

  /** The width of each layer fitted (null: kept float32). */
  get widths(): readonly LayerWidth[] {
    return this.widthsOf;
  }

  /** Which dictionary layer i uses (0 when global); -1 for a layer kept float32. */
  dictionaryOf(layer: number): number {
    return this.widthsOf[layer] === null ? -1 : this.dictOf(layer);
  }

  /** The live fitted parameters (dictionary-learn.ts trains them): entries by dictionary, scales by layer. */
  parameters(): { dictionaries: Float32Array[]; scales: Float64Array[] } {
    if (!this.scalesOf) throw new Error('the dictionary is not fitted yet');
    return { dictionaries: this.dicts, scales: this.scalesOf };
  }

  /** Replaces entries and scales (each dictionary sorted ascending, as encoding needs), e.g. trained or restored ones. */
  setParameters(dictionaries: readonly Float32Array[], scales: readonly Float64Array[], widths?: readonly LayerWidth[]): void {
    if (widths) this.widthsOf = [...widths];
    this.dicts = dictionaries.map((d) => Float32Array.from(d));
    this.scalesOf = scales.map((s) => Float64Array.from(s));
    this.mids = this.dicts.map((d) => midpoints(d));
  }

  /** The fitted dictionaries (one when global, one a layer otherwise). */
  get dictionaries(): readonly Float32Array[] {
    return this.dicts;
  }

  /** The fitted scale of each layer (per-channel granularity: its largest channel scale). */
  get scales(): readonly number[] {
    return (this.scalesOf ?? []).map((s) => Math.max(...s));
  }

  /** The fitted scales of each layer: one, or one per output channel. */
  get unitScales(): readonly Float64Array[] {
    return this.scalesOf ?? [];
  }

  private dictOf(layer: number): number {
    return this.representation.scope === 'global' ? 0 : layer;
  }

  fit(layers: readonly LayerWeights[]): void {
    assertFinite(layers);
    const r = this.representation;
    this.widthsOf = resolveWidths(r, this.params ?? layers);
    const sizeOf = (i: number) => 2 ** (this.widthsOf[i] ?? 1);
    const unitCounts = layers.map((l) => unitsOf(l, r.granularity));
    const unitValues = (i: number) => Array.from({ length: unitCounts[i] }, (_, c) => gatherUnit(layers[i].values, unitCounts[i], c));
    if (r.scope === 'per-layer' && r.granularity === 'layer') {
      this.scalesOf = layers.map(() => Float64Array.of(1));
      this.dicts = this.fitPerLayer(layers);
    } else if (r.scope === 'per-layer') {
      // A float32 layer (width null) gets a placeholder fit it never uses.
      const fits = layers.map((_, i) => (this.widthsOf[i] === null ? { dict: new Float32Array(2), scales: Float64Array.of(1) } : this.fitShared(unitValues(i), sizeOf(i))));
      this.dicts = fits.map((f) => f.dict);
      this.scalesOf = fits.map((f) => f.scales);
    } else {
      const f = this.fitShared(layers.flatMap((_, i) => unitValues(i)), this.size);
      this.dicts = [f.dict];
      let at = 0;
      this.scalesOf = unitCounts.map((n) => f.scales.slice(at, (at += n)));
    }
    this.mids = this.dicts.map((d) => midpoints(d));
  }

  /** One dictionary a layer, fitted to its weights; scale 1. */
  private fitPerLayer(layers: readonly LayerWeights[]): Float32Array[] {
    const r = this.representation;
    return layers.map((l, i) => {
      const width = this.widthsOf[i];
      if (width === null) return new Float32Array(2);
      const data = sortWeights(l.values);
      const entries = initialEntries(data, 2 ** width, r.init);
      lloyd(data, entries, r.refine);
      return toFloat32Sorted(entries);
    });
  }

  /**
   * One dictionary for several units (layers or channels), unit u decoded as entry × s_u. Entries start on the
   * weights pooled after dividing each unit by its max|w|; then scales and entries (Lloyd, weighted by s_u²) are
   * refined in turn, each step lowering the total squared error.
   */
  private fitShared(units: readonly Float32Array[], size: number): { dict: Float32Array; scales: Float64Array } {
    const r = this.representation;
    const scales = new Float64Array(units.length);
    const data = units.map((v) => sortWeights(v));
    units.forEach((v, i) => {
      const m = maxAbs(v);
      scales[i] = m > 0 && Number.isFinite(m) ? m : 1;
    });
    let entries: Float64Array;
    if (r.init === 'uniform') {
      let lo = Infinity;
      let hi = -Infinity;
      data.forEach((d, i) => {
        const n = d.sorted.length;
        if (n === 0) return;
        lo = Math.min(lo, d.sorted[0] / scales[i]);
        hi = Math.max(hi, d.sorted[n - 1] / scales[i]);
      });
      entries = lo <= hi ? evenlySpaced(lo, hi, size) : new Float64Array(size);
    } else {
      entries = compandedEntries(data, scales, size);
    }
    // Start each unit where the dictionary's outermost entry meets the unit's largest |w| (companded entries end
    // inside the range), and search from there.
    const reach = Math.max(Math.abs(entries[0]), Math.abs(entries[size - 1]));
    if (reach > 0 && Number.isFinite(reach)) for (let i = 0; i < scales.length; i++) scales[i] /= reach;
    const stats = cellStatsFor(size);
    const fitScales = (e: ArrayLike<number>, search: boolean) => data.forEach((d, i) => (scales[i] = fitScale(d, e, scales[i], stats, search)));
    fitScales(entries, true);
    for (let it = 0; it < r.refine; it++) {
      if (!lloydStep(data, scales, entries, stats)) break;
      fitScales(entries, false); // entries moved a little: alternating steps follow them
    }
    const dict = toFloat32Sorted(entries);
    // The stored entries are float32: settle the scales on exactly those (searching again after Lloyd moved them).
    fitScales(dict, r.refine > 0);
    return { dict, scales };
  }

  private fitted(layers: readonly LayerWeights[]): Float64Array[] {
    if (!this.scalesOf) this.fit(layers);
    const scales = this.scalesOf!;
    if (scales.length !== layers.length) throw new RangeError(`quantizer was fitted on ${scales.length} layers, got ${layers.length}`);
    return scales;
  }

  apply(layers: readonly LayerWeights[], _rng: Rng, out?: Float32Array[]): Float32Array[] {
    return this.deploy(layers, out);
  }

  /** Encoding is deterministic: the deployed weights are the ones training used. */
  deploy(layers: readonly LayerWeights[], out?: Float32Array[]): Float32Array[] {
    const scales = this.fitted(layers);
    const dst = outputsFor(layers, out);
    // In the addon when it is on: the same values for about half the CPU (every training step encodes every weight).
    const native = nativeQuantizers();
    for (let i = 0; i < layers.length; i++) {
      const d = this.dictionaryOf(i);
      if (d < 0) dst[i].set(layers[i].values);
      else if (native) native.quantizeDictionary(layers[i].values, this.dicts[d], this.mids[d], scales[i], dst[i]);
      else quantizeDictionary(layers[i].values, this.dicts[d], this.mids[d], scales[i], dst[i], null);
    }
    return dst;
  }

  /** The codes and decoded values apply would give. */
  encode(layers: readonly LayerWeights[]): { codes: Int32Array[]; decoded: Float32Array[] } {
    const scales = this.fitted(layers);
    const codes = layers.map((l) => new Int32Array(l.values.length));
    const decoded = layers.map((l) => new Float32Array(l.values.length));
    for (let i = 0; i < layers.length; i++) {
      const d = this.dictionaryOf(i);
      if (d < 0) decoded[i].set(layers[i].values);
      else quantizeDictionary(layers[i].values, this.dicts[d], this.mids[d], scales[i], decoded[i], codes[i]);
    }
    return { codes, decoded };
  }

  error(layers: readonly LayerWeights[], decoded: readonly Float32Array[]): WeightError {
    const scales = this.fitted(layers);
    const usedBy = layers.map((l, i) => {
      const d = this.dictionaryOf(i);
      if (d < 0) return new Uint8Array(0);
      const used = new Uint8Array(this.dicts[d].length);
      countUsage(l.values, this.mids[d], scales[i], used);
      return used;
    });
    const unused = (u: Uint8Array) => u.reduce((a, b) => a + (b ? 0 : 1), 0);
    let top: number;
    if (this.representation.scope === 'global') {
      const all = new Uint8Array(this.size);
      for (const u of usedBy) for (let k = 0; k < u.length; k++) all[k] |= u[k];
      top = unused(all);
    } else {
      top = usedBy.reduce((a, u) => a + unused(u), 0);
    }
    return weightError(layers, decoded, (i) => (this.dictionaryOf(i) < 0 ? {} : { scale: Math.max(...scales[i]), unusedEntries: unused(usedBy[i]) }), {
      unusedEntries: top,
    });
  }

  pack(layers: readonly LayerWeights[], extra?: PackExtra): Uint8Array {
    const scales = this.fitted(layers);
    const { codes } = this.encode(layers);
    // Only the dictionaries some layer uses are stored (a float32 layer's placeholder is not), renumbered in order.
    const stored: number[] = [];
    const index = new Map<number, number>();
    const records: LayerRecord[] = layers.map((l, i) => {
      const d = this.dictionaryOf(i);
      if (d < 0) return { name: l.name, shape: l.shape, encoding: 'float32', values: l.values };
      if (!index.has(d)) index.set(d, stored.push(d) - 1);
      return { name: l.name, shape: l.shape, encoding: 'dictionary', bits: Math.log2(this.dicts[d].length), scales: scales[i], dictionary: index.get(d)!, codes: codes[i] };
    });
    return packArtifact({
      representation: this.representation,
      meta: extra?.meta,
      dictionaries: stored.map((d) => this.dicts[d]),
      layers: [...records, ...float32Records(extra?.float32)],
    });
  }
}
