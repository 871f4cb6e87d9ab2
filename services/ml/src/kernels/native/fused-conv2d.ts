/** FusedConv2D on oneDNN: the bias add and a ReLU run inside the convolution; other activations go to wasm. */
import type * as tf from '@tensorflow/tfjs';
import type { FusedConvAttrs } from '../types.ts';
import { allocate, convGeometry, isFloat, offsetOf, withFallback } from './common.ts';

export const nativeFusedConv2DConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'x' | 'filter' | 'bias' | 'preluActivationWeights', FusedConvAttrs>(wasm, 'FusedConv2D', (addon, { inputs, backend, attrs }) => {
    const { x, filter, bias, preluActivationWeights } = inputs;
    const activation = attrs.activation ?? 'linear';
    if (preluActivationWeights || (activation !== 'linear' && activation !== 'relu') || !isFloat(x, filter, bias)) return null;
    const g = convGeometry(x.shape, filter.shape, attrs);
    if (!g) return null;
    // Only a per-channel bias ([O], or any shape of O elements): a broadcast bias of another shape goes to wasm.
    if (bias && bias.shape.reduce((a, b) => a * b, 1) !== g.outShape[3]) return null;
    return allocate(backend, [g.outShape], ([y]) =>
      addon.convForward(backend.wasm.HEAPU8, offsetOf(backend, x), offsetOf(backend, filter), bias ? offsetOf(backend, bias) : -1, offsetOf(backend, y), g.geometry, activation === 'relu'),
    )[0];
  });
