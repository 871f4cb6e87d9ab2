import type * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig } from '@quantlab/shared';
import type { Rng } from '../random.ts';
import type { ModelGraph } from './graph.ts';
import type { ParamSpec } from '@quantlab/shared/models/param-spec';

export type ModelName = ExperimentConfig['model'];

export type { ParamSpec } from '@quantlab/shared/models/param-spec';

export interface ForwardOptions {
  /**
   * Training mode: BatchNorm layers normalize with the batch's own moments and push them here (kept tensors, mean then
   * variance per layer, in the order of the model's 'state' params), for the running averages used in evaluation.
   */
  moments?: tf.Tensor[];
  /**
   * Training mode for Dropout: masks drawn from this generator (the project's, so a run reproduces and resumes).
   * Absent: Dropout is the identity (evaluation).
   */
  dropoutRng?: Rng;
}

/**
 * A model as explicit tensor ops over weights it does not own: the training loop passes the weights each step, so
 * compact (quantized) weights can stand in for the master weights, and gradients come back for exactly those tensors.
 */
export interface Model {
  name: ModelName;
  inputShape: [number, number, number];
  numClasses: number;
  params: ParamSpec[];
  /**
   * The same function as data (models/graph.ts), for exports and for models that come as a graph. Where a model has
   * both, a test holds `forward` and the graph interpreter to the same logits.
   */
  graph?: ModelGraph;
  /** Logits [batch, numClasses] for x [batch, h, w, c]; `weights` in the order of `params`. */
  forward(weights: readonly tf.Tensor[], x: tf.Tensor4D, opts?: ForwardOptions): tf.Tensor2D;
}
