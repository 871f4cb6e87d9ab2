/** The filter and bias gradients of a convolution with bias in one oneDNN backward-weights primitive. */
import type * as tf from '@tensorflow/tfjs';
import type { BackpropFilterAttrs } from '../types.ts';
import { CONV_FILTER_BIAS_GRAD } from '../wasm/conv2d-backprop-filter-bias.ts';
import { allocate, convGeometry, isFloat, offsetOf, withFallback } from './common.ts';

export const nativeConv2DBackpropFilterBiasConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'x' | 'dy', BackpropFilterAttrs>(wasm, CONV_FILTER_BIAS_GRAD, (addon, { inputs, backend, attrs }) => {
    const { x, dy } = inputs;
    if (!isFloat(x, dy)) return null;
    const g = convGeometry(x.shape, attrs.filterShape, { ...attrs, dilations: 1 });
    if (!g || g.outShape.some((d, i) => d !== dy.shape[i])) return null;
    return allocate(backend, [attrs.filterShape, [attrs.filterShape[3]]], ([dw, db]) =>
      addon.convBackwardWeights(backend.wasm.HEAPU8, offsetOf(backend, x), offsetOf(backend, dy), offsetOf(backend, dw), offsetOf(backend, db), g.geometry),
    );
  });
