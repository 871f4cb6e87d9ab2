/**
 * The bridge between the training loop and the representations module: which params are compacted, and the
 * compaction each step (fit when the representation's parameters must follow the master weights, then apply).
 */
import { createQuantizer, DictionaryLearner, DictionaryQuantizer, type DictionaryLearnerState } from '../representations/index.ts';
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
  /** Trains the dictionary by gradient (update "gradient", training phase); null otherwise. */
  readonly learner: DictionaryLearner | null;
  /** Whether the learner holds a dictionary it trains (from a fit during training, or a checkpoint). */
  private learning = false;
  private readonly refitEvery: 'step' | 'epoch' | 'never';
  private out: Float32Array[] | undefined;
  private lastLayers: LayerWeights[] | undefined;

  constructor(
    config: ExperimentConfig,
    readonly model: Model,
  ) {
    this.indices = quantizedIndices(model, config.quantizeBiases);
    this.quantizer = createQuantizer(
      config.representation,
      this.indices.map((i) => model.params[i]),
    );
    const r = config.representation;
    this.refitEvery = r.kind === 'dictionary' ? r.refitEvery : 'step';
    this.learner = r.kind === 'dictionary' && r.update === 'gradient' && config.phase === 'training' ? new DictionaryLearner(this.quantizer as DictionaryQuantizer) : null;
  }

  /**
   * Whether the step at `step` (0-based within its epoch) refits first: every step when refitsEachStep, else at an
   * epoch's first step; a learned dictionary with refitEvery "never" only once, when it has nothing to train yet.
   */
  fitsAt(step: number, refitEachStep: boolean): boolean {
    if (this.learner && this.refitEvery === 'never') return !this.learning;
    return refitEachStep || step === 0;
  }

  /** Trains the learned dictionary by this step's gradients (all params, in param order), before SGD moves the weights. */
  learn(grads: readonly (Float32Array | null)[], opts: { lr: number; momentum: number }): void {
    if (!this.learner || !this.lastLayers) return;
    this.learner.step(
      this.lastLayers,
      this.indices.map((i) => grads[i]),
      opts,
    );
  }

  /** Whether the deployed dictionary is a trained one (finish packs it as it is instead of refitting). */
  get learned(): boolean {
    return this.learning;
  }

  /** The learned dictionary for a checkpoint (null when there is none). */
  learnerState(): DictionaryLearnerState | null {
    return this.learner && this.learning ? this.learner.state() : null;
  }

  restoreLearner(state: DictionaryLearnerState): void {
    if (!this.learner) return;
    this.learner.restore(state);
    this.learning = true;
  }

  private fit(layers: LayerWeights[]): void {
    this.quantizer.fit(layers);
    if (this.learner) {
      this.learner.reset();
      this.learning = true;
    }
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
    if (fit) this.fit(layers);
    this.lastLayers = layers;
    this.out = this.quantizer.apply(layers, rng, this.out);
    const all = weights.slice();
    this.indices.forEach((i, k) => (all[i] = this.out![k]));
    return { all, compact: this.out, layers };
  }

  /**
   * Like apply, but the weights as deployed: rounding to nearest (what the artifact decodes to). A learned dictionary
   * is deployed as trained, never refit here.
   */
  deploy(weights: Float32Array[], fit: boolean): { all: Float32Array[]; compact: Float32Array[]; layers: LayerWeights[] } {
    const layers = this.layers(weights);
    if (fit && !this.learning) this.quantizer.fit(layers);
    this.out = this.quantizer.deploy(layers, this.out);
    const all = weights.slice();
    this.indices.forEach((i, k) => (all[i] = this.out![k]));
    return { all, compact: this.out, layers };
  }
}
