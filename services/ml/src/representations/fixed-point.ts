/**
 * Signed fixed point: value = code × step, code in [−2^(bits−1), 2^(bits−1) − 1], one step per layer (or per output
 * channel with granularity "channel").
 *   pow2:   the paper's Q-format. Integer bits I = the smallest integer with 2^I ≥ max|w| (the smallest power of two
 *           holding the weights), fraction bits F = bits − 1 − I, step = 2^−F; or step = 2^−fractionBits when given.
 *           The range is [−2^I, 2^I − 2^−F]: a weight at +2^I saturates one step below it.
 *   maxabs: linear quantization, step = max|w| / (2^(bits−1) − 1).
 *   mse:    linear quantization with the step minimizing Σ(w − ŵ)², searched as a dictionary's scale is.
 * Values beyond the range saturate at its ends (never wrap around). Nearest rounding is Math.round of w/step;
 * stochastic rounding rounds up with probability (w/step − ⌊w/step⌋), so E[decoded] = w inside the range.
 * Stochastic rounding is a training device: `deploy` and `pack` (the artifact) always round to nearest.
 * bitsPerLayer gives each layer its own width (widths.ts); a layer at 32 stays float32, exactly, and is packed so.
 */
import type { FixedRepresentation, WeightError } from '@quantlab/shared';
import { packArtifact } from '../artifact/pack.ts';
import type { LayerRecord } from '../artifact/format.ts';
import type { Rng } from '../random.ts';
import { assertFinite, gatherUnit, unitMaxAbs, unitsOf } from './channels.ts';
import { dictionaryObjective, searchScale, sortWeights, type ScaleObjective } from './dictionary-fit.ts';
import { outputsFor, weightError } from './error-metrics.ts';
import { float32Records, type PackExtra } from './float32.ts';
import type { LayerWeights, WeightQuantizer } from './types.ts';
import { resolveWidths, type LayerWidth, type WidthParam } from './widths.ts';

/** The Q-format of B-bit codes holding weights up to `max`: integer bits, fraction bits and the step 2^−F. */
export function qFormat(bits: number, max: number): { integerBits: number; fractionBits: number; step: number } {
  let i = Math.ceil(Math.log2(max));
  // log2 may be off by one ulp around exact powers of two: settle on the smallest I with 2^I ≥ max.
  while (2 ** i < max) i++;
  while (2 ** (i - 1) >= max) i--;
  const f = bits - 1 - i;
  return { integerBits: i + 0, fractionBits: f + 0, step: 2 ** -f }; // + 0: no -0
}

/** The step of a unit whose largest |w| is `max` (for `mse`, where the search starts: the max-abs step). */
export function fixedStep(r: FixedRepresentation, max: number): number {
  if (r.range === 'pow2' && r.fractionBits !== undefined) return 2 ** -r.fractionBits;
  // An all-zero layer still needs a valid step; every code is 0 either way.
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  if (r.range === 'pow2') return qFormat(r.bits, max).step;
  return max / (2 ** (r.bits - 1) - 1);
}

/** Nearest codes of `values` at one step, as an objective for the scale search: one pass a candidate. */
function fixedObjective(values: Float32Array, bits: number): ScaleObjective {
  const qmax = 2 ** (bits - 1) - 1;
  const qmin = -(2 ** (bits - 1));
  const code = (w: number, s: number) => Math.min(qmax, Math.max(qmin, Math.round(w / s)));
  return {
    sse(s) {
      let e = 0;
      for (let i = 0; i < values.length; i++) {
        const d = values[i] - code(values[i], s) * s;
        e += d * d;
      }
      return e;
    },
    leastSquares(s) {
      let num = 0;
      let den = 0;
      for (let i = 0; i < values.length; i++) {
        const q = code(values[i], s);
        num += values[i] * q;
        den += q * q;
      }
      return den > 0 && num > 0 ? num / den : null;
    },
  };
}

const codeTables = new Map<number, Float64Array>();
/** The signed codes −2^(bits−1) … 2^(bits−1) − 1 as dictionary entries (the same cells, so the same error). */
function codesOf(bits: number): Float64Array {
  let t = codeTables.get(bits);
  if (!t) codeTables.set(bits, (t = Float64Array.from({ length: 2 ** bits }, (_, k) => k - 2 ** (bits - 1))));
  return t;
}

/**
 * The MSE-optimal step of one unit's weights, starting the search at the max-abs step. With few codes for the
 * weights, the codes are scored as a dictionary's entries on the sorted weights (O(codes · log n) a candidate);
 * with many, by a pass over the weights (O(n)). A tie between two codes costs the same either way.
 */
export function mseStep(values: Float32Array, bits: number, max: number): number {
  if (!(max > 0)) return 1;
  const objective = 2 ** bits * Math.log2(values.length + 1) < values.length ? dictionaryObjective(sortWeights(values), codesOf(bits)) : fixedObjective(values, bits);
  return searchScale(objective, max / (2 ** (bits - 1) - 1), true, 24);
}

/**
 * Quantizes `src` into `dst` (decoded) and, when given, `codes`; weight i uses steps[i mod steps.length].
 * The hot loop of training: no allocation, one division and one rounding per weight.
 */
export function quantizeFixed(
  src: Float32Array,
  steps: Float64Array,
  bits: number,
  rng: Rng | null,
  dst: Float32Array,
  codes: Int32Array | null,
): void {
  const qmax = 2 ** (bits - 1) - 1;
  const qmin = -(2 ** (bits - 1));
  const n = src.length;
  const units = steps.length;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const step = steps[c];
    if (++c === units) c = 0;
    let x = src[i] / step;
    if (x > qmax) x = qmax;
    else if (x < qmin) x = qmin;
    let q: number;
    if (rng === null) {
      // `| 0` turns −0 into 0 (so the artifact decodes the same bits).
      q = Math.round(x) | 0;
    } else {
      const f = Math.floor(x);
      q = (rng.next() < x - f ? f + 1 : f) | 0;
    }
    dst[i] = q * step;
    if (codes !== null) codes[i] = q;
  }
}

/**
 * How many values of `src` saturate: their nearest code lies outside [qmin, qmax] (w/step beyond qmax + ½ or
 * qmin − ½), so clipping, not rounding, decided their value. maxabs never saturates; pow2 does when a weight is
 * within half a step of 2^I, and with a given fractionBits; mse trades clipped outliers for a finer step.
 */
export function countSaturated(src: Float32Array, steps: Float64Array, bits: number): number {
  const hi = 2 ** (bits - 1) - 0.5;
  const lo = -(2 ** (bits - 1)) - 0.5;
  const units = steps.length;
  let s = 0;
  for (let i = 0; i < src.length; i++) {
    const x = src[i] / steps[i % units];
    if (x > hi || x < lo) s++;
  }
  return s;
}

export class FixedPointQuantizer implements WeightQuantizer {
  private stepsOf: Float64Array[] | null = null;
  private widthsOf: LayerWidth[] | null = null;

  /** `params`: the quantized params with their kinds, so bitsPerLayer's layers can be told apart from biases. */
  constructor(
    readonly representation: FixedRepresentation,
    private readonly params?: readonly WidthParam[],
  ) {}

  /** The width of each layer fitted (null: kept float32). */
  get widths(): readonly LayerWidth[] {
    return this.widthsOf ?? [];
  }

  /** The fitted step of each layer (per-channel granularity: its largest channel step). */
  get steps(): readonly number[] {
    return (this.stepsOf ?? []).map((s) => Math.max(...s));
  }

  /** The fitted steps of each layer: one, or one per output channel. */
  get unitSteps(): readonly Float64Array[] {
    return this.stepsOf ?? [];
  }

  fit(layers: readonly LayerWeights[]): void {
    assertFinite(layers);
    const r = this.representation;
    const widths = resolveWidths(r, this.params ?? layers);
    this.widthsOf = widths;
    this.stepsOf = layers.map((l, i) => {
      const bits = widths[i];
      if (bits === null) return Float64Array.of(1);
      const units = unitsOf(l, r.granularity);
      const max = unitMaxAbs(l.values, units);
      const steps = new Float64Array(units);
      for (let c = 0; c < units; c++) steps[c] = r.range === 'mse' ? mseStep(gatherUnit(l.values, units, c), bits, max[c]) : fixedStep({ ...r, bits }, max[c]);
      return steps;
    });
  }

  private widthOf(i: number): LayerWidth {
    return this.widthsOf![i];
  }

  private fitted(layers: readonly LayerWeights[]): Float64Array[] {
    if (!this.stepsOf) this.fit(layers);
    const steps = this.stepsOf!;
    if (steps.length !== layers.length) throw new RangeError(`quantizer was fitted on ${steps.length} layers, got ${layers.length}`);
    return steps;
  }

  private stochastic(rng: Rng): Rng | null {
    return this.representation.rounding === 'stochastic' ? rng : null;
  }

  apply(layers: readonly LayerWeights[], rng: Rng, out?: Float32Array[]): Float32Array[] {
    return this.quantize(layers, this.stochastic(rng), out);
  }

  deploy(layers: readonly LayerWeights[], out?: Float32Array[]): Float32Array[] {
    return this.quantize(layers, null, out);
  }

  private quantize(layers: readonly LayerWeights[], rng: Rng | null, out?: Float32Array[]): Float32Array[] {
    const steps = this.fitted(layers);
    const dst = outputsFor(layers, out);
    for (let i = 0; i < layers.length; i++) {
      const bits = this.widthOf(i);
      if (bits === null) dst[i].set(layers[i].values);
      else quantizeFixed(layers[i].values, steps[i], bits, rng, dst[i], null);
    }
    return dst;
  }

  /** The codes and decoded values: with an rng as apply gives them (same draws), without one as deploy does. */
  encode(layers: readonly LayerWeights[], rng: Rng | null): { codes: Int32Array[]; decoded: Float32Array[] } {
    const steps = this.fitted(layers);
    const r = rng === null ? null : this.stochastic(rng);
    const codes = layers.map((l) => new Int32Array(l.values.length));
    const decoded = layers.map((l) => new Float32Array(l.values.length));
    for (let i = 0; i < layers.length; i++) {
      const bits = this.widthOf(i);
      // A float32 layer has no codes: its decoded values are its weights.
      if (bits === null) decoded[i].set(layers[i].values);
      else quantizeFixed(layers[i].values, steps[i], bits, r, decoded[i], codes[i]);
    }
    return { codes, decoded };
  }

  error(layers: readonly LayerWeights[], decoded: readonly Float32Array[]): WeightError {
    const steps = this.fitted(layers);
    const sat = layers.map((l, i) => {
      const bits = this.widthOf(i);
      return bits === null ? 0 : countSaturated(l.values, steps[i], bits);
    });
    const total = layers.reduce((a, l) => a + l.values.length, 0);
    const satTotal = sat.reduce((a, b) => a + b, 0);
    return weightError(
      layers,
      decoded,
      (i) => (this.widthOf(i) === null ? {} : { step: Math.max(...steps[i]), saturated: layers[i].values.length ? sat[i] / layers[i].values.length : 0 }),
      { saturated: total ? satTotal / total : 0 },
    );
  }

  /** The artifact holds round-to-nearest codes of the master weights, whatever the training rounding. */
  pack(layers: readonly LayerWeights[], extra?: PackExtra): Uint8Array {
    const steps = this.fitted(layers);
    const { codes } = this.encode(layers, null);
    const records: LayerRecord[] = layers.map((l, i) => {
      const bits = this.widthOf(i);
      if (bits === null) return { name: l.name, shape: l.shape, encoding: 'float32', values: l.values };
      return { name: l.name, shape: l.shape, encoding: 'fixed', bits, scales: steps[i], codes: codes[i] };
    });
    return packArtifact({ representation: this.representation, meta: extra?.meta, layers: [...records, ...float32Records(extra?.float32)] });
  }
}
