/** _FusedMatMul on oneDNN: the bias add and a ReLU inside the product; other activations go to wasm. */
import type * as tf from '@tensorflow/tfjs';
import type { FusedMatMulAttrs } from '../types.ts';
import { allocate, isFloat, offsetOf, withFallback } from './common.ts';
import { matmulDims } from './matmul-common.ts';

export const nativeFusedMatMulConfig = (wasm: tf.KernelConfig | undefined) =>
  withFallback<'a' | 'b' | 'bias' | 'preluActivationWeights', FusedMatMulAttrs>(wasm, '_FusedMatMul', (addon, { inputs, backend, attrs }) => {
    const { a, b, bias, preluActivationWeights } = inputs;
    const activation = attrs.activation ?? 'linear';
    if (preluActivationWeights || (activation !== 'linear' && activation !== 'relu') || !isFloat(a, b, bias)) return null;
    const d = matmulDims(a, b, attrs);
    if (!d) return null;
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== d.dims[3])) return null;
    return allocate(backend, [d.outShape], ([c]) =>
      addon.matmul(backend.wasm.HEAPU8, offsetOf(backend, a), offsetOf(backend, b), bias ? offsetOf(backend, bias) : -1, offsetOf(backend, c), d.dims, activation === 'relu'),
    )[0];
  });
