/**
 * AvgPoolGrad on oneDNN (average excluding padding): each window's dy spread over the input cells it covers, divided
 * by their count, the exact gradient of TF.js's forward average pool, as the wasm kernel computes it.
 */
import type * as tf from '@tensorflow/tfjs';
import type { PoolGradAttrs } from '../types.ts';
import { allocate, isFloat, offsetOf, poolGeometry, withFallback } from './common.ts';

export const nativeAvgPoolGradConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'dy' | 'input', PoolGradAttrs>(wasm, 'AvgPoolGrad', (addon, { inputs, backend, attrs }) => {
    const { dy, input } = inputs;
    if (!isFloat(dy)) return null;
    const g = poolGeometry(input.shape, dy.shape, attrs);
    if (!g) return null;
    return allocate(backend, [input.shape], ([dx]) => addon.poolBackward(backend.wasm.HEAPU8, -1, offsetOf(backend, dy), offsetOf(backend, dx), g, false))[0];
  });
