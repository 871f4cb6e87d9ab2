/**
 * Registers the oneDNN kernels (one file each) over the wasm kernels registered before them, which they fall back
 * to. Once per process, after registerWasmKernels and before the wasm backend first initializes.
 */
import * as tf from '@tensorflow/tfjs';
import type { NativeKernels } from '@quantlab/native';
import type { AnyKernelConfig } from '../types.ts';
import { replaceKernel } from '../wasm/register.ts';
import { CONV_FILTER_BIAS_GRAD } from '../wasm/conv2d-backprop-filter-bias.ts';
import { setNativeKernels } from './common.ts';
import { nativeConv2DConfig } from './conv2d.ts';
import { nativeFusedConv2DConfig } from './fused-conv2d.ts';
import { nativeConv2DBackpropInputConfig } from './conv2d-backprop-input.ts';
import { nativeConv2DBackpropFilterConfig } from './conv2d-backprop-filter.ts';
import { nativeConv2DBackpropFilterBiasConfig } from './conv2d-backprop-filter-bias.ts';
import { nativeBatchMatMulConfig } from './batch-matmul.ts';
import { nativeFusedMatMulConfig } from './fused-matmul.ts';
import { nativeMaxPoolGradConfig } from './max-pool-grad.ts';
import { nativeAvgPoolGradConfig } from './avg-pool-grad.ts';

let registered = false;

/** Registers the native kernels (once) and turns them on or off; off leaves every call to the wasm kernels. */
export function registerNativeKernels(kernels: NativeKernels, on: boolean): void {
  setNativeKernels(kernels, on);
  if (registered) return;
  const wasm = (name: string) => tf.getKernel(name, 'wasm');
  const configs: AnyKernelConfig[] = [
    nativeConv2DConfig(wasm('Conv2D')),
    nativeFusedConv2DConfig(wasm('FusedConv2D')),
    nativeConv2DBackpropInputConfig(wasm('Conv2DBackpropInput')),
    nativeConv2DBackpropFilterConfig(wasm('Conv2DBackpropFilter')),
    nativeConv2DBackpropFilterBiasConfig(wasm(CONV_FILTER_BIAS_GRAD)),
    nativeBatchMatMulConfig(wasm('BatchMatMul')),
    nativeFusedMatMulConfig(wasm('_FusedMatMul')),
    nativeMaxPoolGradConfig(wasm('MaxPoolGrad')),
    nativeAvgPoolGradConfig(wasm('AvgPoolGrad')),
  ];
  for (const config of configs) replaceKernel(config);
  registered = true;
}
