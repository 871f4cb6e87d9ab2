/**
 * What our kernels see of TF.js's kernel call, typed (TF.js's own NamedAttrMap is untyped), and the configs they
 * register with (TF.js's KernelConfig, one file per kernel).
 */
import type * as tf from '@tensorflow/tfjs';

export type Info = tf.TensorInfo;
export type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** The wasm backend's members our kernels use (tfjs-backend-wasm's BackendWasm). */
export interface WasmBackend {
  makeOutput(shape: number[], dtype: 'float32'): Info;
  typedArrayFromHeap(t: Info): Float32Array;
  disposeData(dataId: object): unknown;
  getMemoryOffset(dataId: object): number;
  wasm: { HEAPU8: Uint8Array };
}

export interface KernelArgs<Inputs extends string, Attrs> {
  inputs: Record<Inputs, Info>;
  backend: WasmBackend;
  attrs: Attrs;
}

export interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}
export interface FusedConvAttrs extends ConvAttrs {
  activation?: string;
  leakyreluAlpha?: number;
}
export interface BackpropFilterAttrs extends ConvAttrs {
  filterShape: [number, number, number, number];
}
export interface BackpropInputAttrs extends ConvAttrs {
  inputShape: [number, number, number, number];
}
export interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}
export interface FusedMatMulAttrs extends MatMulAttrs {
  activation?: string;
  leakyreluAlpha?: number;
}
export interface PoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** A kernel function over typed inputs and attributes. */
export type TypedKernelFunc<Inputs extends string, Attrs> = (args: KernelArgs<Inputs, Attrs>) => Info | Info[];

/** TF.js's KernelConfig with our typed kernel function. */
export interface TypedKernelConfig<Inputs extends string, Attrs> {
  kernelName: string;
  backendName: 'wasm';
  kernelFunc: TypedKernelFunc<Inputs, Attrs>;
  setupFunc?: tf.KernelConfig['setupFunc'];
}

export type AnyKernelConfig = TypedKernelConfig<string, any>;
