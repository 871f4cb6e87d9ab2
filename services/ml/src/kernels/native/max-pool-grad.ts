/**
 * MaxPoolGrad on oneDNN: dx from dy and the pooling's input. oneDNN's backward needs the forward's workspace (each
 * window's argmax), which the op does not carry, so the addon runs the forward again on x first; still about ten times
 * faster than the wasm kernel's scatter in JS, the largest cost of a cnn5 step once the convolutions were native.
 * Ties go to the first maximum of a window, as in the wasm and cpu kernels.
 */
import type * as tf from '@tensorflow/tfjs';
import type { PoolGradAttrs } from '../types.ts';
import { allocate, isFloat, offsetOf, poolGeometry, withFallback } from './common.ts';

export const nativeMaxPoolGradConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'dy' | 'input', PoolGradAttrs>(wasm, 'MaxPoolGrad', (addon, { inputs, backend, attrs }) => {
    const { dy, input } = inputs;
    if (!isFloat(dy, input)) return null;
    const g = poolGeometry(input.shape, dy.shape, attrs);
    if (!g) return null;
    return allocate(backend, [input.shape], ([dx]) => addon.poolBackward(backend.wasm.HEAPU8, offsetOf(backend, input), offsetOf(backend, dy), offsetOf(backend, dx), g, true))[0];
  });
