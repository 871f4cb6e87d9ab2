/** Conv2DBackpropInput on oneDNN (backward data): dx from dy and the filter. */
import type * as tf from '@tensorflow/tfjs';
import type { BackpropInputAttrs } from '../types.ts';
import { allocate, convGeometry, isFloat, offsetOf, withFallback } from './common.ts';

export const nativeConv2DBackpropInputConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'dy' | 'filter', BackpropInputAttrs>(wasm, 'Conv2DBackpropInput', (addon, { inputs, backend, attrs }) => {
    const { dy, filter } = inputs;
    if (!isFloat(dy, filter)) return null;
    const g = convGeometry(attrs.inputShape, filter.shape, { ...attrs, dilations: 1 });
    if (!g || g.outShape.some((d, i) => d !== dy.shape[i])) return null;
    return allocate(backend, [attrs.inputShape], ([dx]) =>
      addon.convBackwardData(backend.wasm.HEAPU8, offsetOf(backend, dy), offsetOf(backend, filter), offsetOf(backend, dx), g.geometry),
    )[0];
  });
