/**
 * The filter and bias gradients of a convolution with bias as one kernel (QuantlabConv2DBackpropFilterBias): on wasm
 * the two compose (Conv2DBackpropFilter + the in-heap bias sum); the native kernel computes both in one oneDNN
 * primitive. Other backends run their Conv2DBackpropFilter and Sum.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackpropFilterAttrs, Info, TypedKernelConfig } from '../types.ts';
import { biasGrad, wasmBiasGrad } from './bias-grad.ts';
import type { BackpropFilterArgs } from './conv2d-backprop-filter.ts';
import { callKernel } from './call.ts';

export const CONV_FILTER_BIAS_GRAD = 'QuantlabConv2DBackpropFilterBias';

export function conv2DBackpropFilterBias(args: BackpropFilterArgs): Info[] {
  const dw = callKernel('Conv2DBackpropFilter', args.backend, args.inputs, args.attrs);
  return [dw, wasmBiasGrad({ inputs: { dy: args.inputs.dy }, backend: args.backend, attrs: {} })];
}

export const conv2DBackpropFilterBiasConfig: TypedKernelConfig<'x' | 'dy', BackpropFilterAttrs> = {
  kernelName: CONV_FILTER_BIAS_GRAD,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilterBias,
};

/** [dFilter, dBias] of conv2d(x, filter) + bias. */
export function conv2DFilterBiasGrad(x: tf.Tensor4D, dy: tf.Tensor, attrs: BackpropFilterAttrs): [tf.Tensor4D, tf.Tensor1D] {
  const engine = tf.engine();
  if (tf.getBackend() === 'wasm' && tf.getKernel(CONV_FILTER_BIAS_GRAD, 'wasm')) {
    return engine.runKernel(CONV_FILTER_BIAS_GRAD, { x, dy }, attrs as never) as unknown as [tf.Tensor4D, tf.Tensor1D];
  }
  return [engine.runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as tf.Tensor4D, biasGrad(dy)];
}
