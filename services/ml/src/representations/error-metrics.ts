import type { LayerWeightError, WeightError } from '@quantlab/shared';
import { firstNonFinite, NonFiniteWeightError } from './channels.ts';
import type { LayerWeights } from './types.ts';

/** Signal-to-quantization-noise ratio in dB; null when there is no noise (or no signal), as JSON has no Infinity. */
export function sqnrDb(signal: number, noise: number): number | null {
  if (!(noise > 0) || !(signal > 0)) return null;
  return 10 * Math.log10(signal / noise);
}

/** Sums of squares of one layer: Σw² and Σ(w − ŵ)². */
export function sumsOfSquares(w: Float32Array, q: Float32Array): { signal: number; noise: number } {
  if (w.length !== q.length) throw new RangeError(`decoded layer has ${q.length} values, expected ${w.length}`);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < w.length; i++) {
    const a = w[i];
    const d = a - q[i];
    signal += a * a;
    noise += d * d;
  }
  return { signal, noise };
}

/** What a representation adds to a layer's error entry (its step or scale, saturation or unused entries). */
export type LayerExtras = Pick<LayerWeightError, 'scale' | 'step' | 'saturated' | 'unusedEntries'>;

/**
 * The WeightError of decoded layers against their masters: MSE and SQNR over all weights together and per layer.
 * `extras(i)` gives each layer's representation-specific fields; `top` the run-wide ones.
 */
export function weightError(
  layers: readonly LayerWeights[],
  decoded: readonly Float32Array[],
  extras: (i: number) => LayerExtras,
  top: Pick<WeightError, 'saturated' | 'unusedEntries'> = {},
): WeightError {
  if (decoded.length !== layers.length) throw new RangeError(`got ${decoded.length} decoded layers for ${layers.length} layers`);
  let signal = 0;
  let noise = 0;
  let count = 0;
  const out: LayerWeightError[] = layers.map((layer, i) => {
    const s = sumsOfSquares(layer.values, decoded[i]);
    // A NaN or ±Inf would turn every figure into NaN (null in JSON) without saying where: name it instead.
    if (!Number.isFinite(s.signal) || !Number.isFinite(s.noise)) {
      const at = firstNonFinite(layer.values);
      const bad = at >= 0 ? at : firstNonFinite(decoded[i]);
      throw new NonFiniteWeightError(at >= 0 ? layer.name : `${layer.name} (decoded)`, bad, at >= 0 ? layer.values[at] : decoded[i][bad]);
    }
    signal += s.signal;
    noise += s.noise;
    count += layer.values.length;
    const n = layer.values.length;
    return { name: layer.name, count: n, mse: n ? s.noise / n : 0, sqnrDb: sqnrDb(s.signal, s.noise), ...extras(i) };
  });
  return { mse: count ? noise / count : 0, sqnrDb: sqnrDb(signal, noise), ...top, layers: out };
}

/** Largest |w| of an array (0 for an empty one; NaN is ignored: the quantizers refuse non-finite layers first). */
export function maxAbs(values: Float32Array): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m) m = a;
  }
  return m;
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Output arrays for apply: `out` when given (checked), otherwise fresh ones. */
export function outputsFor(layers: readonly LayerWeights[], out?: Float32Array[]): Float32Array[] {
  if (!out) return layers.map((l) => new Float32Array(l.values.length));
  if (out.length !== layers.length) throw new RangeError(`out has ${out.length} arrays for ${layers.length} layers`);
  for (let i = 0; i < layers.length; i++) {
    if (out[i].length !== layers[i].values.length) throw new RangeError(`out[${i}] has ${out[i].length} values, layer ${layers[i].name} has ${layers[i].values.length}`);
  }
  return out;
}
