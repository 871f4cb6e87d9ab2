/**
 * Signed fixed point: value = code × step, code in [−2^(bits−1), 2^(bits−1) − 1], one step per layer.
 *   pow2:   step = 2^e with e the smallest integer such that (2^(bits−1) − 1)·2^e ≥ max|w|, or 2^−fractionBits
 *   maxabs: step = max|w| / (2^(bits−1) − 1)
 * Values beyond the range saturate at its ends (never wrap around). Nearest rounding is Math.round of w/step;
 * stochastic rounding rounds up with probability (w/step − ⌊w/step⌋), so E[decoded] = w inside the range.
 */
import type { FixedRepresentation, WeightError } from '@quantlab/shared';
import { packArtifact } from '../artifact/pack.ts';
import type { LayerRecord } from '../artifact/format.ts';
import type { Rng } from '../random.ts';
import { maxAbs, outputsFor, weightError } from './error-metrics.ts';
import { float32Records, type PackExtra } from './float32.ts';
import type { LayerWeights, WeightQuantizer } from './types.ts';

/** The step of a layer whose largest |w| is `max`. */
export function fixedStep(r: FixedRepresentation, max: number): number {
  if (r.range === 'pow2' && r.fractionBits !== undefined) return 2 ** -r.fractionBits;
  const qmax = 2 ** (r.bits - 1) - 1;
  // An all-zero (or non-finite) layer still needs a valid step; every code is 0 either way.
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  if (r.range === 'maxabs') return max / qmax;
  let e = Math.ceil(Math.log2(max / qmax));
  // log2 may be off by one ulp around exact powers of two: settle on the smallest covering exponent.
  while (qmax * 2 ** e < max) e++;
  while (qmax * 2 ** (e - 1) >= max) e--;
  return 2 ** e;
}

/**
 * Quantizes `src` into `dst` (decoded) and, when given, `codes`.
 * The hot loop of training: no allocation, one division and one rounding per weight.
 */
export function quantizeFixed(
  src: Float32Array,
  step: number,
  bits: number,
  rng: Rng | null,
  dst: Float32Array,
  codes: Int32Array | null,
): void {
  const qmax = 2 ** (bits - 1) - 1;
  const qmin = -(2 ** (bits - 1));
  const n = src.length;
  if (rng === null) {
    for (let i = 0; i < n; i++) {
      let x = src[i] / step;
      if (x > qmax) x = qmax;
      else if (x < qmin) x = qmin;
      // `| 0` turns −0 into 0 (so the artifact decodes the same bits) and NaN into 0.
      const q = Math.round(x) | 0;
      dst[i] = q * step;
      if (codes !== null) codes[i] = q;
    }
  } else {
    for (let i = 0; i < n; i++) {
      let x = src[i] / step;
      if (x > qmax) x = qmax;
      else if (x < qmin) x = qmin;
      const f = Math.floor(x);
      const q = (rng.next() < x - f ? f + 1 : f) | 0;
      dst[i] = q * step;
      if (codes !== null) codes[i] = q;
    }
  }
}

/**
 * How many values of `src` saturate: their nearest code lies outside [qmin, qmax] (w/step beyond qmax + ½ or
 * qmin − ½), so clipping, not rounding, decided their value. maxabs and automatic pow2 ranges never saturate.
 */
export function countSaturated(src: Float32Array, step: number, bits: number): number {
  const hi = 2 ** (bits - 1) - 0.5;
  const lo = -(2 ** (bits - 1)) - 0.5;
  let s = 0;
  for (let i = 0; i < src.length; i++) {
    const x = src[i] / step;
    if (x > hi || x < lo) s++;
  }
  return s;
}

export class FixedPointQuantizer implements WeightQuantizer {
  private stepsOf: Float64Array | null = null;

  constructor(readonly representation: FixedRepresentation) {}

  /** The fitted step of each layer. */
  get steps(): readonly number[] {
    return this.stepsOf ? Array.from(this.stepsOf) : [];
  }

  fit(layers: readonly LayerWeights[]): void {
    if (!this.stepsOf || this.stepsOf.length !== layers.length) this.stepsOf = new Float64Array(layers.length);
    for (let i = 0; i < layers.length; i++) this.stepsOf[i] = fixedStep(this.representation, maxAbs(layers[i].values));
  }

  private fitted(layers: readonly LayerWeights[]): Float64Array {
    if (!this.stepsOf) this.fit(layers);
    const steps = this.stepsOf!;
    if (steps.length !== layers.length) throw new RangeError(`quantizer was fitted on ${steps.length} layers, got ${layers.length}`);
    return steps;
  }

  private stochastic(rng: Rng): Rng | null {
    return this.representation.rounding === 'stochastic' ? rng : null;
  }

  apply(layers: readonly LayerWeights[], rng: Rng, out?: Float32Array[]): Float32Array[] {
    const steps = this.fitted(layers);
    const dst = outputsFor(layers, out);
    const r = this.stochastic(rng);
    for (let i = 0; i < layers.length; i++) quantizeFixed(layers[i].values, steps[i], this.representation.bits, r, dst[i], null);
    return dst;
  }

  /** The codes and decoded values apply would give (same rng draws). */
  encode(layers: readonly LayerWeights[], rng: Rng): { codes: Int32Array[]; decoded: Float32Array[] } {
    const steps = this.fitted(layers);
    const r = this.stochastic(rng);
    const codes = layers.map((l) => new Int32Array(l.values.length));
    const decoded = layers.map((l) => new Float32Array(l.values.length));
    for (let i = 0; i < layers.length; i++) quantizeFixed(layers[i].values, steps[i], this.representation.bits, r, decoded[i], codes[i]);
    return { codes, decoded };
  }

  error(layers: readonly LayerWeights[], decoded: readonly Float32Array[]): WeightError {
    const steps = this.fitted(layers);
    const bits = this.representation.bits;
    const sat = layers.map((l, i) => countSaturated(l.values, steps[i], bits));
    const total = layers.reduce((a, l) => a + l.values.length, 0);
    const satTotal = sat.reduce((a, b) => a + b, 0);
    return weightError(
      layers,
      decoded,
      (i) => ({ step: steps[i], saturated: layers[i].values.length ? sat[i] / layers[i].values.length : 0 }),
      { saturated: total ? satTotal / total : 0 },
    );
  }

  pack(layers: readonly LayerWeights[], rng: Rng, extra?: PackExtra): Uint8Array {
    const steps = this.fitted(layers);
    const { codes } = this.encode(layers, rng);
    const records: LayerRecord[] = layers.map((l, i) => ({
      name: l.name,
      shape: l.shape,
      encoding: 'fixed',
      bits: this.representation.bits,
      step: steps[i],
      codes: codes[i],
    }));
    return packArtifact({ representation: this.representation, meta: extra?.meta, layers: [...records, ...float32Records(extra?.float32)] });
  }
}
