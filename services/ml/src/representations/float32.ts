/** The float32 baseline: weights as they are; the artifact stores them raw (little-endian float32). */
import type { Float32Representation, WeightError } from '@quantlab/shared';
import { packArtifact } from '../artifact/pack.ts';
import type { LayerRecord } from '../artifact/format.ts';
import type { Rng } from '../random.ts';
import { outputsFor, weightError } from './error-metrics.ts';
import type { LayerWeights, WeightQuantizer } from './types.ts';

export type PackExtra = { float32?: readonly LayerWeights[]; meta?: Record<string, unknown> };

/** Artifact records of layers kept in float32 (biases, or everything for the float32 representation). */
export function float32Records(layers: readonly LayerWeights[] | undefined): LayerRecord[] {
  return (layers ?? []).map((l) => ({ name: l.name, shape: l.shape, encoding: 'float32', values: l.values }));
}

export class Float32Quantizer implements WeightQuantizer {
  constructor(readonly representation: Float32Representation) {}

  fit(): void {}

  apply(layers: readonly LayerWeights[], _rng: Rng, out?: Float32Array[]): Float32Array[] {
    const dst = outputsFor(layers, out);
    for (let i = 0; i < layers.length; i++) dst[i].set(layers[i].values);
    return dst;
  }

  deploy(layers: readonly LayerWeights[], out?: Float32Array[]): Float32Array[] {
    const dst = outputsFor(layers, out);
    for (let i = 0; i < layers.length; i++) dst[i].set(layers[i].values);
    return dst;
  }

  error(layers: readonly LayerWeights[], decoded: readonly Float32Array[]): WeightError {
    return weightError(layers, decoded, () => ({}));
  }

  pack(layers: readonly LayerWeights[], extra?: PackExtra): Uint8Array {
    return packArtifact({ representation: this.representation, meta: extra?.meta, layers: float32Records([...layers, ...(extra?.float32 ?? [])]) });
  }
}
