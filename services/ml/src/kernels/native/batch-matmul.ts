/** BatchMatMul on oneDNN (the dense layers and their gradients): 2-D, or 3-D with equal batches. */
import type * as tf from '@tensorflow/tfjs';
import type { MatMulAttrs } from '../types.ts';
import { allocate, isFloat, offsetOf, withFallback } from './common.ts';
import { matmulDims } from './matmul-common.ts';

export const nativeBatchMatMulConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'a' | 'b', MatMulAttrs>(wasm, 'BatchMatMul', (addon, { inputs, backend, attrs }) => {
    const { a, b } = inputs;
    if (!isFloat(a, b)) return null;
    const d = matmulDims(a, b, attrs);
    if (!d) return null;
    return allocate(backend, [d.outShape], ([c]) =>
      addon.matmul(backend.wasm.HEAPU8, offsetOf(backend, a), offsetOf(backend, b), -1, offsetOf(backend, c), d.dims, false),
    )[0];
  });
