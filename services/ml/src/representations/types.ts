import type { Representation, WeightError } from '@quantlab/shared';
import type { Rng } from '../random.ts';

import type { LayerWeights } from '../artifact/format.ts';

export type { LayerWeights };

/**
 * A representation bound to a model's layers. The training loop calls `fit` when the representation's parameters
 * must follow the master weights (every step or every epoch), `apply` every step to get the compact weights the
 * forward and backward passes use, `deploy` for the weights a deployed model holds (evaluation), and `pack` once
 * at the end for the artifact. Stochastic rounding is a training device: deploy and pack round to nearest, so
 * decodeArtifact(pack(layers)) gives bit for bit deploy(layers), and no random draw decides a reported number.
 */
export interface WeightQuantizer {
  readonly representation: Representation;
  /** Chooses ranges, steps, dictionaries and per-layer scales for these master weights. */
  fit(layers: readonly LayerWeights[]): void;
  /** The compact weights, decoded back to float32, one array per layer in the same order; `out` is reused when given. */
  apply(layers: readonly LayerWeights[], rng: Rng, out?: Float32Array[]): Float32Array[];
  /** The compact weights as deployed: like apply but always rounding to nearest (what the artifact decodes to). */
  deploy(layers: readonly LayerWeights[], out?: Float32Array[]): Float32Array[];
  /** Approximation error of `decoded` against `layers`. */
  error(layers: readonly LayerWeights[], decoded: readonly Float32Array[]): WeightError;
  /** The packed artifact (docs/ARTIFACT.md): bit-packed codes plus dictionary, scales, names and shapes. */
  pack(layers: readonly LayerWeights[], extra?: { float32?: readonly LayerWeights[]; meta?: Record<string, unknown> }): Uint8Array;
}
