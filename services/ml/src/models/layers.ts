/** Param specs and ops shared by the BatchNorm networks (resnet20, vgg-small). */
import * as tf from '@tensorflow/tfjs';
import { BN_EPSILON } from './graphs.ts';
import type { ForwardOptions, ParamSpec } from './types.ts';

/** PyTorch's default: running averages move 0.1 towards each batch's moments. */
export const BN_MOMENTUM = 0.1;

export const convSpec = (name: string, k: number, cin: number, cout: number): ParamSpec => ({ name: `${name}/kernel`, shape: [k, k, cin, cout], kind: 'kernel', fanIn: k * k * cin });

/** gamma, beta, running mean, running variance: four params, in this order. */
export const bnSpecs = (name: string, c: number): ParamSpec[] => [
  { name: `${name}/gamma`, shape: [c], kind: 'scale', fanIn: c, init: 1 },
  { name: `${name}/beta`, shape: [c], kind: 'bias', fanIn: c },
  { name: `${name}/mean`, shape: [c], kind: 'state', fanIn: c },
  { name: `${name}/variance`, shape: [c], kind: 'state', fanIn: c, init: 1 },
];

export const denseSpecs = (name: string, nin: number, nout: number): ParamSpec[] => [
  { name: `${name}/kernel`, shape: [nin, nout], kind: 'kernel', fanIn: nin },
  { name: `${name}/bias`, shape: [nout], kind: 'bias', fanIn: nin },
];

/** Hands out a model's weights in param order, so forward passes read like the layer list. */
export class WeightReader {
  private i = 0;
  constructor(private readonly weights: readonly tf.Tensor[]) {}
  next(): tf.Tensor {
    return this.weights[this.i++];
  }
  take(n: number): tf.Tensor[] {
    return Array.from({ length: n }, () => this.next());
  }
}

/** 'same' convolution without bias (a BatchNorm follows). */
export function conv(x: tf.Tensor4D, kernel: tf.Tensor, stride = 1): tf.Tensor4D {
  return tf.conv2d(x, kernel as tf.Tensor4D, stride, 'same');
}

/**
 * BatchNorm over N, H, W. Training (opts.moments set): the batch's moments, which are reported for the running
 * averages and differentiated through; evaluation: the running averages.
 */
export function batchNorm(x: tf.Tensor4D, [gamma, beta, mean, variance]: tf.Tensor[], opts?: ForwardOptions): tf.Tensor4D {
  if (opts?.moments) {
    const m = tf.moments(x, [0, 1, 2]);
    opts.moments.push(tf.keep(m.mean), tf.keep(m.variance));
    return tf.batchNorm(x, m.mean, m.variance, beta, gamma, BN_EPSILON) as tf.Tensor4D;
  }
  return tf.batchNorm(x, mean, variance, beta, gamma, BN_EPSILON) as tf.Tensor4D;
}

export function dense(x: tf.Tensor2D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return tf.add(tf.matMul(x, kernel as tf.Tensor2D), bias) as tf.Tensor2D;
}

/**
 * Moves running means and variances (the 'state' params, in pairs) towards a batch's moments, as PyTorch does:
 * r = (1 - m) r + m * batch, with the variance's unbiased estimate over the n = N*H*W values of each channel.
 */
export function updateRunningStats(state: Float32Array[], moments: Float32Array[], n: number): void {
  const unbias = n > 1 ? n / (n - 1) : 1;
  for (let i = 0; i < state.length; i++) {
    const r = state[i];
    const b = moments[i];
    const f = i % 2 === 1 ? unbias : 1;
    for (let j = 0; j < r.length; j++) r[j] = (1 - BN_MOMENTUM) * r[j] + BN_MOMENTUM * b[j] * f;
  }
}
