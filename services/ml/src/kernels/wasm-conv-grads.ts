/**
 * Convolution gradients for the wasm backend, composed from the backend's own forward kernels inside the wasm heap.
 *
 * The wasm backend has no Conv2DBackpropFilter kernel, and its Conv2DBackpropInput runs at about a ninth of the
 * forward Conv2D's speed (with or without a stride). Both gradients are convolutions themselves, so we express them
 * as forward Conv2D calls on transposed / reversed / dilated operands (see docs/PERFORMANCE.md). Intermediates never
 * leave the heap: we call the registered kernel functions directly and free their outputs with backend.disposeData.
 */
import * as tf from '@tensorflow/tfjs';
import { maxPoolGradKernel } from './wasm-max-pool-grad.ts';
import { avgPoolGradKernel } from './wasm-avg-pool-grad.ts';
import { registerWasmBiasGrad } from './bias-grad.ts';

type Info = tf.TensorInfo;
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface KernelArgs {
  inputs: Record<string, Info>;
  backend: { disposeData(dataId: object): unknown };
  attrs: Record<string, unknown>;
}

const BACKEND = 'wasm';
let registered = false;

function call(name: string, args: KernelArgs, inputs: Record<string, Info>, attrs: Record<string, unknown>): Info {
  const kernel = tf.getKernel(name, BACKEND);
  if (!kernel) throw new Error(`wasm backend lacks the ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend: args.backend as never, attrs: attrs as never }) as Info;
}

function convInfo(xShape: number[], filterShape: number[], attrs: Record<string, unknown>) {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`wasm convolution gradients support dataFormat NHWC only, got ${String(attrs.dataFormat)}`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
}

/**
 * dW[a,b,c,o] = sum_{n,i,j} xpad[n, i*s+a, j*s+b, c] * dy[n,i,j,o]: a forward convolution of x with batch and
 * channels swapped ([C,H,W,N]) by dy as the filter ([oh,ow,N,O]), dilated by the forward stride, then transposed back.
 */
function conv2DBackpropFilter(args: KernelArgs): Info {
  const { x, dy } = args.inputs;
  const info = convInfo(x.shape, args.attrs.filterShape as number[], args.attrs);
  const { top, bottom, left, right } = info.padInfo;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const xt = call('Transpose', args, { x }, { perm: [3, 1, 2, 0] });
  const dyt = call('Transpose', args, { x: dy }, { perm: [1, 2, 0, 3] });
  let conv = call('Conv2D', args, { x: xt, filter: dyt }, {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [sh, sw],
  });
  args.backend.disposeData(xt.dataId);
  args.backend.disposeData(dyt.dataId);
  // With a stride, the dilated convolution can cover up to stride-1 positions past the filter: cut them off.
  if (conv.shape[1] !== fh || conv.shape[2] !== fw) {
    const cut = call('Slice', args, { x: conv }, { begin: [0, 0, 0, 0], size: [conv.shape[0], fh, fw, conv.shape[3]] });
    args.backend.disposeData(conv.dataId);
    conv = cut;
  }
  const out = call('Transpose', args, { x: conv }, { perm: [1, 2, 0, 3] });
  args.backend.disposeData(conv.dataId);
  return out;
}

/**
 * dx = conv(dy dilated by the stride, W reversed in both spatial axes with in/out channels swapped), padded so that
 * the output has the input's size: before by k-1-pad, after by whatever is left (the rows a stride skipped at the end
 * of x get zeros, as they had no influence). Only a padding larger than the filter (not produced by 'same' or
 * 'valid') goes to the backend's built-in kernel, which is general but about a ninth of the speed.
 */
function makeBackpropInput(builtin: tf.KernelFunc) {
  return (args: KernelArgs): Info => {
    const { dy, filter } = args.inputs;
    const inputShape = args.attrs.inputShape as number[];
    const info = convInfo(inputShape, filter.shape, args.attrs);
    const { top, left } = info.padInfo;
    const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
    const [, h, w] = inputShape;
    const before = [fh - 1 - top, fw - 1 - left];
    if (before.some((p) => p < 0)) return builtin(args as never) as Info;

    let dyd = dilate(args, dy, sh, sw);
    // The dilated rows and columns the convolution needs; anything past them is cut, anything short is padded.
    const need = [h + fh - 1 - before[0], w + fw - 1 - before[1]];
    if (dyd.shape[1] > need[0] || dyd.shape[2] > need[1]) {
      const cut = call('Slice', args, { x: dyd }, { begin: [0, 0, 0, 0], size: [dyd.shape[0], Math.min(dyd.shape[1], need[0]), Math.min(dyd.shape[2], need[1]), dyd.shape[3]] });
      if (dyd !== dy) args.backend.disposeData(dyd.dataId);
      dyd = cut;
    }
    const after = [need[0] - dyd.shape[1], need[1] - dyd.shape[2]];

    const rev = call('Reverse', args, { x: filter }, { dims: [0, 1] });
    const wt = call('Transpose', args, { x: rev }, { perm: [0, 1, 3, 2] });
    args.backend.disposeData(rev.dataId);
    const out = call('Conv2D', args, { x: dyd, filter: wt }, {
      strides: [1, 1],
      pad: [[0, 0], [before[0], after[0]], [before[1], after[1]], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [1, 1],
    });
    args.backend.disposeData(wt.dataId);
    if (dyd !== dy) args.backend.disposeData(dyd.dataId);
    return out;
  };
}

/**
 * dy [N,oh,ow,O] with (stride - 1) zeros after every row and column: [N, oh*sh, ow*sw, O]. One Pad of a 5-D view
 * ([N*oh, 1, ow, 1, O] -> [N*oh, sh, ow, sw, O]) has exactly the memory layout of the dilated 4-D tensor, so the
 * views need no copies. Returns dy itself for stride 1.
 */
function dilate(args: KernelArgs, dy: Info, sh: number, sw: number): Info {
  if (sh === 1 && sw === 1) return dy;
  const [n, oh, ow, o] = dy.shape;
  const view: Info = { dataId: dy.dataId, dtype: dy.dtype, shape: [n * oh, 1, ow, 1, o] };
  const padded = call('PadV2', args, { x: view }, { paddings: [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
  return { dataId: padded.dataId, dtype: padded.dtype, shape: [n, oh * sh, ow * sw, o] };
}

/** Registers the gradient kernels on the wasm backend (once per process; the kernel registry is global). */
export function registerWasmConvGradients(): void {
  if (registered) return;
  const builtinInput = tf.getKernel('Conv2DBackpropInput', BACKEND);
  if (builtinInput) tf.unregisterKernel('Conv2DBackpropInput', BACKEND);
  const fallback: tf.KernelFunc =
    builtinInput?.kernelFunc ??
    (() => {
      throw new Error('wasm backend: strided Conv2DBackpropInput is not available');
    });
  if (tf.getKernel('Conv2DBackpropFilter', BACKEND)) tf.unregisterKernel('Conv2DBackpropFilter', BACKEND);
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: BACKEND, kernelFunc: conv2DBackpropFilter as never });
  // Keep the built-in kernel's setup (it binds the wasm function the fallback calls when the backend starts).
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: BACKEND,
    setupFunc: builtinInput?.setupFunc,
    kernelFunc: makeBackpropInput(fallback) as never,
  });
  if (tf.getKernel('MaxPoolGrad', BACKEND)) tf.unregisterKernel('MaxPoolGrad', BACKEND);
  tf.registerKernel({ kernelName: 'MaxPoolGrad', backendName: BACKEND, kernelFunc: maxPoolGradKernel as never });
  if (tf.getKernel('AvgPoolGrad', BACKEND)) tf.unregisterKernel('AvgPoolGrad', BACKEND);
  tf.registerKernel({ kernelName: 'AvgPoolGrad', backendName: BACKEND, kernelFunc: avgPoolGradKernel as never });
  registerWasmBiasGrad();
  registered = true;
}
