/**
 * Scale units and non-finite input, shared by the quantizers. A layer has one step/scale (granularity "layer") or one
 * per output channel ("channel": the kernel's last axis, HWIO for convolutions and [in, out] for dense layers), so
 * weight i of a layer with S units belongs to unit i mod S.
 */
import type { LayerWeights } from './types.ts';

/** Number of scale units of a layer: 1, or its last dimension for per-channel granularity. */
export function unitsOf(layer: Pick<LayerWeights, 'shape' | 'values'>, granularity: 'layer' | 'channel'): number {
  if (granularity === 'layer' || layer.shape.length === 0 || layer.values.length === 0) return 1;
  return layer.shape[layer.shape.length - 1];
}

/** max|w| of each unit (S = 1: of the whole layer). */
export function unitMaxAbs(values: Float32Array, units: number): Float64Array {
  const out = new Float64Array(units);
  for (let j = 0; j < values.length; j += units) {
    for (let c = 0; c < units; c++) {
      const a = Math.abs(values[j + c]);
      if (a > out[c]) out[c] = a;
    }
  }
  return out;
}

/** The weights of unit `c` (every `units`-th value from c), contiguous. */
export function gatherUnit(values: Float32Array, units: number, c: number): Float32Array {
  if (units === 1) return values;
  const out = new Float32Array(Math.floor((values.length - c + units - 1) / units));
  for (let i = c, k = 0; i < values.length; i += units, k++) out[k] = values[i];
  return out;
}

/** A NaN or ±Inf where a weight must be finite: fitting a range or dictionary on it would silently give garbage. */
export class NonFiniteWeightError extends RangeError {
  override name = 'NonFiniteWeightError';
  constructor(
    readonly layer: string,
    readonly index: number,
    readonly value: number,
  ) {
    super(`layer ${layer}: weight ${index} is ${value} (weights must be finite)`);
  }
}

/** Index of the first NaN or ±Inf of an array, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // v - v is 0 for every finite v and NaN for NaN and ±Inf: one subtraction and compare a value.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Throws NonFiniteWeightError for the first layer holding a NaN or ±Inf. */
export function assertFinite(layers: readonly LayerWeights[]): void {
  for (const l of layers) {
    const i = firstNonFinite(l.values);
    if (i >= 0) throw new NonFiniteWeightError(l.name, i, l.values[i]);
  }
}
