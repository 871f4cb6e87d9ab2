import * as tf from '@tensorflow/tfjs';
import type { KernelArgs, PoolGradAttrs } from '../types.ts';

export type PoolGradArgs = KernelArgs<'dy' | 'input', PoolGradAttrs>;

/**
 * The pooling geometry of a MaxPoolGrad/AvgPoolGrad call, its output allocated in the wasm heap, and heap views of
 * the input, dy and the output (zeroed). The views are taken after the allocation, which may grow (and so replace)
 * the heap's buffer.
 */
export function poolGradSetup(args: PoolGradArgs) {
  const { dy, input } = args.inputs;
  const { backend, attrs: a } = args;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const dx = backend.makeOutput(input.shape, 'float32');
  const out = backend.typedArrayFromHeap(dx);
  out.fill(0);
  return { info, dx, x: backend.typedArrayFromHeap(input), g: backend.typedArrayFromHeap(dy), out };
}

