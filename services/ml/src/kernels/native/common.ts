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
import type { ConvAttrs, Info, KernelArgs, PoolGradAttrs, TypedKernelConfig, TypedKernelFunc, WasmBackend } from '../types.ts';
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

/**
 * The addon's dictionary encoding while the native kernels are on (null otherwise: TFJS_BACKEND=wasm keeps the JS
 * one, so that path stays tested). It gives the JS function's results bit for bit, so a run's weights do not depend on
 * which computed them. (Fixed point's rounding stays in JS: V8 compiles it to the machine's own rounding instruction,
 * and a C++ loop built for any x86-64 measured no faster.)
 */
export function nativeQuantizers(): Pick<NativeKernels, 'quantizeDictionary'> | null {
  return enabled ? addon : null;
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

const poolGeometryArray = new Int32Array(14);

/**
 * A pooling's geometry (NHWC) in the addon's order, from the attributes TF.js's pool gradients get; null where oneDNN
 * has no equivalent (another layout or a dilation) or where its output size rule, floor((in + pads − k) / s) + 1,
 * disagrees with TF.js's (a rounding mode), so the wasm kernel takes those.
 */
export function poolGeometry(xShape: number[], dyShape: number[], attrs: PoolGradAttrs): Int32Array | null {
  if (xShape.length !== 4 || dyShape.length !== 4) return null;
  const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || info.dataFormat !== 'channelsLast') return null;
  const p = info.padInfo;
  const out = (size: number, pads: number, k: number, s: number) => Math.floor((size + pads - k) / s) + 1;
  if (out(info.inHeight, p.top + p.bottom, info.filterHeight, info.strideHeight) !== info.outHeight) return null;
  if (out(info.inWidth, p.left + p.right, info.filterWidth, info.strideWidth) !== info.outWidth) return null;
  const expected = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
  if (expected.some((d, i) => d !== dyShape[i])) return null;
  poolGeometryArray.set([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.filterHeight, info.filterWidth,
    info.strideHeight, info.strideWidth, p.top, p.left, p.bottom, p.right,
  ]);
  return poolGeometryArray;
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
