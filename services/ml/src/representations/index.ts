/** Compact weight representations (Kibune & Lee, ICONIP 2017): float32, signed fixed point, dictionary. */
import { Representation } from '@quantlab/shared';
import { DictionaryQuantizer } from './dictionary.ts';
import { FixedPointQuantizer } from './fixed-point.ts';
import { Float32Quantizer } from './float32.ts';
import type { WeightQuantizer } from './types.ts';
import type { WidthParam } from './widths.ts';

export type { LayerWeights, WeightQuantizer } from './types.ts';
export { Float32Quantizer, type PackExtra } from './float32.ts';
export { FixedPointQuantizer, fixedStep, qFormat, quantizeFixed } from './fixed-point.ts';
export { NonFiniteWeightError, assertFinite, firstNonFinite } from './channels.ts';
export { DictionaryQuantizer, quantizeDictionary } from './dictionary.ts';
export { packBits, unpackBits, packedBytes, signExtend } from '../artifact/bit-packing.ts';
export { sqnrDb } from './error-metrics.ts';
export { resolveWidths, type LayerWidth, type WidthParam } from './widths.ts';
export { DictionaryLearner, type DictionaryLearnerState } from './dictionary-learn.ts';

/**
 * The quantizer of a representation; parsed again so that a hand-written one gets its defaults (and is checked).
 * `params` (the quantized params with their kinds) place bitsPerLayer's widths; without them each layer is its own.
 */
export function createQuantizer(input: Representation, params?: readonly WidthParam[]): WeightQuantizer {
  const repr = Representation.parse(input);
  switch (repr.kind) {
    case 'float32':
      return new Float32Quantizer(repr);
    case 'fixed':
      return new FixedPointQuantizer(repr, params);
    case 'dictionary':
      return new DictionaryQuantizer(repr, params);
  }
}

/** Bytes of the same layers stored as float32. */
export function float32Bytes(layers: readonly { values: Float32Array }[]): number {
  return 4 * layers.reduce((a, l) => a + l.values.length, 0);
}
