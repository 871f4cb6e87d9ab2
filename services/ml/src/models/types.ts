import type * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig } from '@quantlab/shared';
import type { Rng } from '../random.ts';
import type { ModelGraph } from './graph.ts';

export type ModelName = ExperimentConfig['model'];

/**
 * One weight tensor of a model. Kernels are always quantized; biases and BatchNorm scales only when the config asks.
 * 'state' params are BatchNorm's running mean and variance: not trained by SGD (the training loop updates them from
 * the batch moments the forward pass reports), never quantized, stored in checkpoints and artifacts like the others.
 */
export interface ParamSpec {
  name: string;
  shape: number[];
  kind: 'kernel' | 'bias' | 'scale' | 'state';
  /** Inputs feeding one output unit (for initialization). */
  fanIn: number;
  /** Constant initial value of a non-kernel (default 0): BatchNorm's scale and running variance start at 1. */
  init?: number;
}

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
