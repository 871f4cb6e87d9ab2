/** Conv2DBackpropFilter on oneDNN (backward weights): dW from x and dy. */
import type * as tf from '@tensorflow/tfjs';
import type { BackpropFilterAttrs } from '../types.ts';
import { allocate, convGeometry, isFloat, offsetOf, withFallback } from './common.ts';

export const nativeConv2DBackpropFilterConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'x' | 'dy', BackpropFilterAttrs>(wasm, 'Conv2DBackpropFilter', (addon, { inputs, backend, attrs }) => {
    const { x, dy } = inputs;
    if (!isFloat(x, dy)) return null;
    const g = convGeometry(x.shape, attrs.filterShape, { ...attrs, dilations: 1 });
    if (!g || g.outShape.some((d, i) => d !== dy.shape[i])) return null;
    return allocate(backend, [attrs.filterShape], ([dw]) =>
      addon.convBackwardWeights(backend.wasm.HEAPU8, offsetOf(backend, x), offsetOf(backend, dy), offsetOf(backend, dw), -1, g.geometry),
    )[0];
  });
