/**
 * Helpers for kernels composed from other wasm kernels inside the heap: call a registered kernel function directly
 * (its intermediates are freed with backend.disposeData, never tracked by the engine) and compute a convolution's
 * geometry from TF.js's attributes.
 */
import * as tf from '@tensorflow/tfjs';
import type { ConvAttrs, Info, WasmBackend } from '../types.ts';

export function callKernel(name: string, backend: WasmBackend, inputs: Record<string, Info>, attrs: object): Info {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm backend lacks the ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend: backend as never, attrs: attrs as never }) as Info;
}

/** The geometry of an NHWC convolution, as TF.js computes it. */
export function convInfo(xShape: number[], filterShape: number[], attrs: ConvAttrs, op: string) {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${op}: dataFormat NHWC only, got ${String(attrs.dataFormat)}`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}
