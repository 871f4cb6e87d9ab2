/**
 * The bridge between the training loop and the representations module: which params are compacted, and the
 * compaction each step (fit when the representation's parameters must follow the master weights, then apply).
 */
import { createQuantizer } from '../representations/index.ts';
import type { LayerWeights, WeightQuantizer } from '../representations/types.ts';
import type { ExperimentConfig } from '@quantlab/shared';
import type { Model } from '../models/index.ts';
import type { Rng } from '../random.ts';

/** Which params a representation compacts: every kernel; biases and BatchNorm scales only when asked; never running stats. */
export function quantizedIndices(model: Model, quantizeBiases: boolean): number[] {
  return model.params.flatMap((p, i) => (p.kind === 'kernel' || (quantizeBiases && (p.kind === 'bias' || p.kind === 'scale')) ? [i] : []));
}

/**
 * Refit every step (fixed point's max-abs and Q-format ranges follow max|w| in O(n); dictionaries when refitEvery is
 * "step"), else once an epoch: dictionaries by default, and fixed point's `mse` range, whose search costs 15-70 ms on
 * cnn5 a layer-granularity fit at 2-8 bits and up to a second per channel (measured 2026-11-30 under load).
 */
export function refitsEachStep(config: ExperimentConfig): boolean {
  const r = config.representation;
  return (r.kind === 'fixed' && r.range !== 'mse') || (r.kind === 'dictionary' && r.refitEvery === 'step');
}

export class Compactor {
  readonly quantizer: WeightQuantizer;
  readonly indices: number[];
  private out: Float32Array[] | undefined;

  constructor(
    config: ExperimentConfig,
    readonly model: Model,
  ) {
    this.quantizer = createQuantizer(config.representation);
    this.indices = quantizedIndices(model, config.quantizeBiases);
  }

  /** The quantized params' master weights as the quantizer sees them. */
  layers(weights: readonly Float32Array[]): LayerWeights[] {
    return this.indices.map((i) => ({ name: this.model.params[i].name, shape: this.model.params[i].shape, values: weights[i] }));
  }

  /** The params kept in float32 (biases unless quantized, BatchNorm's params and running stats). */
  floatLayers(weights: readonly Float32Array[]): LayerWeights[] {
    const q = new Set(this.indices);
    return this.model.params.flatMap((p, i) => (q.has(i) ? [] : [{ name: p.name, shape: p.shape, values: weights[i] }]));
  }

  /** Every param's array for the forward pass: compact where quantized, master otherwise (buffers reused). */
  apply(weights: Float32Array[], rng: Rng, fit: boolean): { all: Float32Array[]; compact: Float32Array[]; layers: LayerWeights[] } {
    const layers = this.layers(weights);
    if (fit) this.quantizer.fit(layers);
    this.out = this.quantizer.apply(layers, rng, this.out);
    const all = weights.slice();
    this.indices.forEach((i, k) => (all[i] = this.out![k]));
    return { all, compact: this.out, layers };
  }

  /** Like apply, but the weights as deployed: rounding to nearest (what the artifact decodes to). */
  deploy(weights: Float32Array[], fit: boolean): { all: Float32Array[]; compact: Float32Array[]; layers: LayerWeights[] } {
    const layers = this.layers(weights);
    if (fit) this.quantizer.fit(layers);
    this.out = this.quantizer.deploy(layers, this.out);
    const all = weights.slice();
    this.indices.forEach((i, k) => (all[i] = this.out![k]));
    return { all, compact: this.out, layers };
  }
}
