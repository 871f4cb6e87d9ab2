/**
 * Registers our wasm kernels (one file each) over TF.js's wasm backend, once per process (the kernel registry is
 * global). They must be registered before the wasm backend first initializes: that is when it runs setup functions.
 */
import * as tf from '@tensorflow/tfjs';
import type { AnyKernelConfig } from '../types.ts';
import { avgPoolGradConfig } from './avg-pool-grad.ts';
import { biasGradConfig } from './bias-grad.ts';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.ts';
import { conv2DBackpropFilterBiasConfig } from './conv2d-backprop-filter-bias.ts';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.ts';
import { maxPoolGradConfig } from './max-pool-grad.ts';

let registered = false;

/** Replaces whatever is registered under the config's name (TF.js refuses a second registration). */
export function replaceKernel(config: AnyKernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config as unknown as tf.KernelConfig);
}

export function registerWasmKernels(): void {
  if (registered) return;
  const configs: AnyKernelConfig[] = [
    conv2DBackpropFilterConfig,
    conv2DBackpropInputConfig(tf.getKernel('Conv2DBackpropInput', 'wasm')),
    conv2DBackpropFilterBiasConfig,
    maxPoolGradConfig,
    avgPoolGradConfig,
    biasGradConfig,
  ];
  for (const config of configs) replaceKernel(config);
  registered = true;
}
