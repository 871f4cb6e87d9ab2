/** Conv2D on oneDNN: NHWC float32, any stride, padding or dilation oneDNN accepts. */
import type * as tf from '@tensorflow/tfjs';
import type { ConvAttrs } from '../types.ts';
import { allocate, convGeometry, isFloat, offsetOf, withFallback } from './common.ts';

export const nativeConv2DConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'x' | 'filter', ConvAttrs>(wasm, 'Conv2D', (addon, { inputs, backend, attrs }) => {
    const { x, filter } = inputs;
    if (!isFloat(x, filter)) return null;
    const g = convGeometry(x.shape, filter.shape, attrs);
    if (!g) return null;
    return allocate(backend, [g.outShape], ([y]) =>
      addon.convForward(backend.wasm.HEAPU8, offsetOf(backend, x), offsetOf(backend, filter), -1, offsetOf(backend, y), g.geometry, false),
    )[0];
  });
