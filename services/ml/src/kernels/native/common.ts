/**
 * What every native kernel shares: the loaded addon and whether it is on, the heap and tensor offsets, convolution
 * geometry in the addon's layout, and the wrapper that falls back to the wasm kernel registered before ours.
 *
 * A native kernel returns null for what it does not cover (dtype, layout, attribute), so the wasm kernel handles it;
 * an error from the addon (an unsupported shape, say) is reported once per op and message and also goes to the wasm
 * kernel, which computes it or fails the run with its own message. Nothing here can crash the process: the addon
 * turns every C++ exception into a JS one.
 */
import * as tf from '@tensorflow/tfjs';
import type { NativeKernels } from '@quantlab/native';
import type { ConvAttrs, Info, KernelArgs, TypedKernelConfig, TypedKernelFunc, WasmBackend } from '../types.ts';
import { convInfo } from '../wasm/call.ts';

let addon: NativeKernels | null = null;
let enabled = false;

/** Installs the addon the native kernels call, and turns them on or off (off: every call goes to the wasm kernel). */
export function setNativeKernels(kernels: NativeKernels | null, on: boolean): void {
  addon = kernels;
  enabled = on && kernels !== null;
}

export function nativeKernelsOn(): boolean {
  return enabled;
}

/** How many native calls fell back to wasm because the addon refused them (tests read this). */
export const fallbacks = { count: 0 };
const warned = new Set<string>();

export const offsetOf = (backend: WasmBackend, t: Info): number => backend.getMemoryOffset(t.dataId);

/** A tensor of `shape` allocated in the heap by the backend; freed again if the native call throws. */
export function allocate(backend: WasmBackend, shapes: number[][], run: (outs: Info[]) => void): Info[] {
  const outs = shapes.map((s) => backend.makeOutput(s, 'float32'));
  try {
    run(outs);
  } catch (e) {
    for (const o of outs) backend.disposeData(o.dataId);
    throw e;
  }
  return outs;
}

const geometry = new Int32Array(17);

/** The convolution's geometry (NHWC input, HWIO filter) in the addon's order; null where oneDNN has no equivalent. */
export function convGeometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): { geometry: Int32Array; outShape: number[] } | null {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') return null;
  if (xShape.length !== 4 || filterShape.length !== 4) return null;
  const info = convInfo(xShape, filterShape, attrs, 'native conv');
  const p = info.padInfo;
  geometry.set([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outChannels, info.filterHeight, info.filterWidth,
    info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, p.top, p.left, p.bottom, p.right,
    info.dilationHeight, info.dilationWidth,
  ]);
  return { geometry, outShape: [info.batchSize, info.outHeight, info.outWidth, info.outChannels] };
}

export const isFloat = (...ts: (Info | undefined)[]): boolean => ts.every((t) => t === undefined || t.dtype === 'float32');

/** A native computation: returns the outputs, or null when the wasm kernel should take the call. */
export type NativeFunc<Inputs extends string, Attrs> = (addon: NativeKernels, args: KernelArgs<Inputs, Attrs>) => Info | Info[] | null;

/**
 * The native kernel for `fallback`'s name: tries the addon (when on), else (or on any addon error) calls the wasm
 * kernel. Keeps the wasm kernel's setup function, which binds the wasm function the fallback calls.
 */
export function withFallback<Inputs extends string, Attrs>(
  fallback: tf.KernelConfig | undefined,
  kernelName: string,
  native: NativeFunc<Inputs, Attrs>,
): TypedKernelConfig<Inputs, Attrs> {
  if (!fallback) throw new Error(`native ${kernelName}: no wasm kernel to fall back to`);
  const wasm = fallback.kernelFunc as unknown as TypedKernelFunc<Inputs, Attrs>;
  return {
    kernelName,
    backendName: 'wasm',
    setupFunc: fallback.setupFunc,
    kernelFunc: (args) => {
      if (enabled && addon) {
        try {
          const out = native(addon, args);
          if (out) return out;
        } catch (e) {
          fallbacks.count++;
          const msg = (e as Error).message;
          if (!warned.has(kernelName + msg)) {
            warned.add(kernelName + msg);
            console.warn(`native ${kernelName} fell back to wasm: ${msg}`);
          }
        }
      }
      return wasm(args);
    },
  };
}
