import * as tf from '@tensorflow/tfjs';

/** The parts of the wasm backend the in-heap pooling gradients use. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

export interface PoolGradArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs: Record<string, unknown>;
}

/**
 * The pooling geometry of a MaxPoolGrad/AvgPoolGrad call, its output allocated in the wasm heap, and heap views of
 * the input, dy and the output (zeroed). The views are taken after the allocation, which may grow (and so replace)
 * the heap's buffer.
 */
export function poolGradSetup(args: PoolGradArgs) {
  const { dy, input } = args.inputs;
  const backend = args.backend as WasmBackendLike;
  const a = args.attrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize as [number, number] | number,
    a.strides as [number, number] | number,
    1,
    a.pad as 'same' | 'valid' | number,
    a.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const dx = backend.makeOutput(input.shape, 'float32');
  const out = backend.typedArrayFromHeap(dx);
  out.fill(0);
  return { info, dx, x: backend.typedArrayFromHeap(input), g: backend.typedArrayFromHeap(dy), out };
}

