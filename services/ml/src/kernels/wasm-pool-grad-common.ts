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

/** The pooling geometry of a MaxPoolGrad/AvgPoolGrad call, and its output allocated in the wasm heap. */
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
  return { dy, input, backend, info, dx };
}
