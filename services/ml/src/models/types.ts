import type * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig } from '@quantlab/shared';

export type ModelName = ExperimentConfig['model'];

/** One weight tensor of a model. Kernels are always quantized; biases only when the config asks. */
export interface ParamSpec {
  name: string;
  shape: number[];
  kind: 'kernel' | 'bias';
  /** Inputs feeding one output unit (for initialization). */
  fanIn: number;
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
  /** Logits [batch, numClasses] for x [batch, h, w, c]; `weights` in the order of `params`. */
  forward(weights: readonly tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D;
}
