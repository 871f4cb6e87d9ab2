/**
 * Training with compact weights only (training.master "compact"; issue 18). The quantized params exist as codes plus
 * the representation's steps, scales and dictionaries; there is no float32 master copy. Each SGD step computes the
 * float32 momentum update from the decoded weights and rounds w + Δw back onto the representation stochastically:
 *   fixed point: onto the grid, code = ⌊x⌋ or ⌊x⌋ + 1 with x = (w + Δw) / step, up with probability x − ⌊x⌋
 *                (Gupta et al. 2015), saturating at the ends of the range;
 *   dictionary:  between the two sorted entries around t = (w + Δw) / scale, the upper one with probability
 *                (t − e_k) / (e_{k+1} − e_k), so a weight moves to a neighbouring entry with probability proportional
 *                to the update; clamped to the outermost entries.
 * Both are unbiased inside the range: E[decoded] = w + Δw. Steps, scales and dictionaries are refitted on the decoded
 * weights as the float32-master run refits them on its master (dictionaries every epoch or step as refitEvery says;
 * fixed point once an epoch, so its grid stays fixed while stochastic updates run on it) and the codes re-encoded
 * to the nearest point of the refitted grid or dictionary.
 *
 * Momentum stays float32 (one float a trained param) and is counted in trainingStateBytes. The decoded float32 copy
 * the forward pass reads (RunState.weights at the quantized params) is a working buffer rebuilt from the codes after
 * every update, like the float32-master run's decoded copy: neither is counted as training state, and checkpoints
 * hold the codes, not it.
 */
import type { DictionaryQuantizer } from '../representations/dictionary.ts';
import type { FixedPointQuantizer } from '../representations/fixed-point.ts';
import type { Rng } from '../random.ts';
import type { Compactor } from './compactor.ts';
import { sgdStep } from './sgd.ts';
import { RunInputError } from '../errors.ts';

/** Codes as held: the narrowest integer array of the representation's bits. */
export type CodeArray = Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array;
export const CODE_TYPES = ['i8', 'i16', 'i32', 'u8', 'u16'] as const;
export type CodeType = (typeof CODE_TYPES)[number];

/** What a checkpoint stores of a compact master: every quantized layer's codes and scale units, and the dictionaries. */
export interface CompactMasterState {
  codeType: CodeType;
  /** One per quantized param (Compactor.indices order). */
  codes: CodeArray[];
  /** Fixed point: the step of each unit; dictionary: the scale of each unit. One array per quantized param. */
  scales: Float64Array[];
  /** Dictionary: the sorted entries (one when global, one a layer otherwise); fixed point: none. */
  dictionaries: Float32Array[];
}

export function codeTypeOf(kind: 'fixed' | 'dictionary', bits: number): CodeType {
  if (kind === 'fixed') return bits <= 8 ? 'i8' : bits <= 16 ? 'i16' : 'i32';
  return bits <= 8 ? 'u8' : 'u16';
}

export function newCodeArray(type: CodeType, n: number): CodeArray {
  switch (type) {
    case 'i8':
      return new Int8Array(n);
    case 'i16':
      return new Int16Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'u8':
      return new Uint8Array(n);
    case 'u16':
      return new Uint16Array(n);
  }
}

/**
 * Stochastic rounding of `target` onto the fixed-point grid of `step` with codes in [qmin, qmax]: the new code.
 * Exported for the unbiasedness test.
 */
export function roundOntoGrid(target: number, step: number, qmin: number, qmax: number, rng: Rng): number {
  let x = target / step;
  if (x > qmax) x = qmax;
  else if (x < qmin) x = qmin;
  const f = Math.floor(x);
  return rng.next() < x - f ? f + 1 : f;
}

/** Stochastic rounding of `t` (in entry units) between the sorted `entries` around it: the new code. */
export function roundBetweenEntries(t: number, entries: Float32Array, rng: Rng): number {
  const last = entries.length - 1;
  if (!(t > entries[0])) return 0; // also NaN, which the loop's finiteness checks report before it gets here
  if (t >= entries[last]) return last;
  // The largest k with entries[k] <= t; then entries[k + 1] > t, so the gap is positive even with equal entries.
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid] <= t) lo = mid;
    else hi = mid;
  }
  const p = (t - entries[lo]) / (entries[lo + 1] - entries[lo]);
  return rng.next() < p ? lo + 1 : lo;
}

export class CompactMaster {
  private state: CompactMasterState;
  private readonly kind: 'fixed' | 'dictionary';
  private readonly bits: number;
  private readonly global: boolean;

  /** Encodes `weights` (the initial float weights, or a checkpoint's state) and decodes them back in place. */
  constructor(
    readonly compactor: Compactor,
    weights: Float32Array[],
    saved?: CompactMasterState,
  ) {
    const r = compactor.quantizer.representation;
    if (r.kind === 'float32') throw new Error('a compact master needs a compact representation');
    this.kind = r.kind;
    this.bits = r.bits;
    this.global = r.kind === 'dictionary' && r.scope === 'global';
    this.state = saved ?? { codeType: codeTypeOf(r.kind, r.bits), codes: [], scales: [], dictionaries: [] };
    if (saved) this.check(saved);
    else this.refit(weights);
    this.decodeInto(weights);
  }

  get snapshot(): CompactMasterState {
    return this.state;
  }

  /** Bytes of the compact weights as held: codes, steps or scales, dictionaries. */
  get bytes(): number {
    const s = this.state;
    const sum = (as: readonly ArrayBufferView[]) => as.reduce((n, a) => n + a.byteLength, 0);
    return sum(s.codes) + sum(s.scales) + sum(s.dictionaries);
  }

  /**
   * Refits steps (fixed point) or entries and scales (dictionary) on the decoded weights in `weights`, as the
   * float32-master run refits on its master, and re-encodes every code to the nearest point.
   */
  refit(weights: Float32Array[]): void {
    const layers = this.compactor.layers(weights);
    const q = this.compactor.quantizer;
    q.fit(layers);
    let codes: Int32Array[];
    if (this.kind === 'fixed') {
      const fixed = q as FixedPointQuantizer;
      codes = fixed.encode(layers, null).codes;
      this.state.scales = fixed.unitSteps.map((s) => Float64Array.from(s));
      this.state.dictionaries = [];
    } else {
      const dict = q as DictionaryQuantizer;
      codes = dict.encode(layers).codes;
      this.state.scales = dict.unitScales.map((s) => Float64Array.from(s));
      this.state.dictionaries = dict.dictionaries.map((d) => Float32Array.from(d));
    }
    this.state.codes = codes.map((c) => {
      const out = newCodeArray(this.state.codeType, c.length);
      out.set(c);
      return out;
    });
  }

  /** The decoded weights of every quantized param, written into `weights` (the forward pass's working copy). */
  decodeInto(weights: Float32Array[]): void {
    this.compactor.indices.forEach((p, k) => {
      const codes = this.state.codes[k];
      const scales = this.state.scales[k];
      const units = scales.length;
      const w = weights[p];
      if (this.kind === 'fixed') {
        for (let j = 0, u = 0; j < w.length; j++, u = u + 1 === units ? 0 : u + 1) w[j] = codes[j] * scales[u];
      } else {
        const entries = this.state.dictionaries[this.global ? 0 : k];
        for (let j = 0, u = 0; j < w.length; j++, u = u + 1 === units ? 0 : u + 1) w[j] = entries[codes[j]] * scales[u];
      }
    });
  }

  /**
   * One SGD step with momentum and weight decay (sgd.ts's formulation): the params kept in float32 update in place;
   * the quantized ones round w − lr·v stochastically onto their representation, and their decoded copy follows.
   */
  step(
    weights: Float32Array[],
    velocity: Float32Array[],
    grads: readonly (Float32Array | null)[],
    decays: readonly boolean[],
    opts: { lr: number; momentum: number; weightDecay: number },
    rng: Rng,
  ): void {
    const quantized = new Set(this.compactor.indices);
    sgdStep(weights, velocity, grads.map((g, i) => (quantized.has(i) ? null : g)), decays, opts);
    const { lr, momentum } = opts;
    const qmax = 2 ** (this.bits - 1) - 1;
    const qmin = -(2 ** (this.bits - 1));
    this.compactor.indices.forEach((p, k) => {
      const g = grads[p];
      if (!g) return;
      const w = weights[p];
      const v = velocity[p];
      const wd = decays[p] ? opts.weightDecay : 0;
      const codes = this.state.codes[k];
      const scales = this.state.scales[k];
      const units = scales.length;
      const entries = this.kind === 'dictionary' ? this.state.dictionaries[this.global ? 0 : k] : null;
      for (let j = 0, u = 0; j < w.length; j++, u = u + 1 === units ? 0 : u + 1) {
        const vj = momentum * v[j] + g[j] + wd * w[j];
        v[j] = vj;
        const target = w[j] - lr * vj;
        const scale = scales[u];
        if (entries === null) {
          const c = roundOntoGrid(target, scale, qmin, qmax, rng);
          codes[j] = c;
          w[j] = c * scale;
        } else {
          const c = roundBetweenEntries(target / scale, entries, rng);
          codes[j] = c;
          w[j] = entries[c] * scale;
        }
      }
    });
  }

  /** A checkpoint's compact state must fit this model and representation before it is used. */
  private check(s: CompactMasterState): void {
    const params = this.compactor.indices.map((i) => this.compactor.model.params[i]);
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const ok =
      s.codeType === codeTypeOf(this.kind, this.bits) &&
      s.codes.length === params.length &&
      s.scales.length === params.length &&
      s.scales.every((u, k) => u.length >= 1 && size(params[k].shape) % u.length === 0) &&
      s.codes.every((c, k) => c.length === size(params[k].shape)) &&
      s.dictionaries.length === (this.kind === 'fixed' ? 0 : this.global ? 1 : params.length) &&
      s.dictionaries.every((d) => d.length === 2 ** this.bits);
    if (!ok) throw new RunInputError('checkpoint: its compact weights do not fit this model and representation');
  }
}
