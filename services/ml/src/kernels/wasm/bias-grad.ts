/**
 * The gradient of a bias added over the last axis: dy summed over every other axis. On wasm, the built-in Sum over
 * the leading axes transposes the whole tensor first; this kernel sums rows in place in the heap (one pass, no copy).
 * Other backends use their own Sum.
 */
import * as tf from '@tensorflow/tfjs';
import type { Info, KernelArgs, TypedKernelConfig } from '../types.ts';

export const BIAS_GRAD = 'QuantlabBiasGrad';

export function wasmBiasGrad({ inputs, backend }: KernelArgs<'dy', object>): Info {
  const { dy } = inputs;
  const c = dy.shape[dy.shape.length - 1];
  const out = backend.makeOutput([c], 'float32');
  const g = backend.typedArrayFromHeap(dy);
  const acc = new Float64Array(c);
  for (let i = 0; i < g.length; i += c) for (let k = 0; k < c; k++) acc[k] += g[i + k];
  backend.typedArrayFromHeap(out).set(acc);
  return out;
}

export const biasGradConfig: TypedKernelConfig<'dy', object> = { kernelName: BIAS_GRAD, backendName: 'wasm', kernelFunc: wasmBiasGrad };

/** Sum of dy over all axes but the last. */
export function biasGrad(dy: tf.Tensor): tf.Tensor1D {
  if (tf.getBackend() === 'wasm' && tf.getKernel(BIAS_GRAD, 'wasm')) return tf.engine().runKernel(BIAS_GRAD, { dy }, {}) as tf.Tensor1D;
  return tf.sum(dy, dy.shape.slice(0, -1).map((_, i) => i)) as tf.Tensor1D;
}
