/** Compact weight representations (Kibune & Lee, ICONIP 2017): float32, signed fixed point, dictionary. */
import { Representation } from '@quantlab/shared';
import { DictionaryQuantizer } from './dictionary.ts';
import { FixedPointQuantizer } from './fixed-point.ts';
import { Float32Quantizer } from './float32.ts';
import type { WeightQuantizer } from './types.ts';

export type { LayerWeights, WeightQuantizer } from './types.ts';
export { Float32Quantizer, type PackExtra } from './float32.ts';
export { FixedPointQuantizer, fixedStep, qFormat, quantizeFixed } from './fixed-point.ts';
export { NonFiniteWeightError, assertFinite, firstNonFinite } from './channels.ts';
export { DictionaryQuantizer, quantizeDictionary } from './dictionary.ts';
export { packBits, unpackBits, packedBytes, signExtend } from '../artifact/bit-packing.ts';
export { sqnrDb } from './error-metrics.ts';

/** The quantizer of a representation; parsed again so that a hand-written one gets its defaults (and is checked). */
export function createQuantizer(input: Representation): WeightQuantizer {
  const repr = Representation.parse(input);
  switch (repr.kind) {
    case 'float32':
      return new Float32Quantizer(repr);
    case 'fixed':
      return new FixedPointQuantizer(repr);
    case 'dictionary':
      return new DictionaryQuantizer(repr);
  }
}

/** Bytes of the same layers stored as float32. */
export function float32Bytes(layers: readonly { values: Float32Array }[]): number {
  return 4 * layers.reduce((a, l) => a + l.values.length, 0);
}
