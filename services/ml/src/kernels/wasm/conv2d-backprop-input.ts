/**
 * Conv2DBackpropInput for the wasm backend, composed from its forward Conv2D inside the heap (the built-in kernel
 * runs at about a ninth of the forward's speed): dx = conv(dy dilated by the stride, W reversed in both spatial axes
 * with in/out channels swapped), padded so that the output has the input's size: before by k-1-pad, after by
 * whatever is left (the rows a stride skipped at the end of x get zeros, as they had no influence). Only a padding
 * larger than the filter (not produced by 'same' or 'valid') goes to the built-in kernel, which is general.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackpropInputAttrs, Info, KernelArgs, TypedKernelConfig, WasmBackend } from '../types.ts';
import { callKernel, convInfo } from './call.ts';

export type BackpropInputArgs = KernelArgs<'dy' | 'filter', BackpropInputAttrs>;

/**
 * dy [N,oh,ow,O] with (stride - 1) zeros after every row and column: [N, oh*sh, ow*sw, O]. One Pad of a 5-D view
 * ([N*oh, 1, ow, 1, O] -> [N*oh, sh, ow, sw, O]) has exactly the memory layout of the dilated 4-D tensor, so the
 * views need no copies. Returns dy itself for stride 1.
 */
function dilate(backend: WasmBackend, dy: Info, sh: number, sw: number): Info {
  if (sh === 1 && sw === 1) return dy;
  const [n, oh, ow, o] = dy.shape;
  const view: Info = { dataId: dy.dataId, dtype: dy.dtype, shape: [n * oh, 1, ow, 1, o] };
  const padded = callKernel('PadV2', backend, { x: view }, { paddings: [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
  return { dataId: padded.dataId, dtype: padded.dtype, shape: [n, oh * sh, ow * sw, o] };
}

function makeBackpropInput(builtin: tf.KernelFunc | undefined) {
  return (args: BackpropInputArgs): Info => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs;
    const info = convInfo(attrs.inputShape, filter.shape, { ...attrs, dilations: 1 }, 'Conv2DBackpropInput');
    const { top, left } = info.padInfo;
    const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
    const [, h, w] = attrs.inputShape;
    const before = [fh - 1 - top, fw - 1 - left];
    if (before.some((p) => p < 0)) {
      if (!builtin) throw new Error('Conv2DBackpropInput: the wasm backend has no kernel for a padding larger than the filter');
      return builtin(args as never) as Info;
    }

    let dyd = dilate(backend, dy, sh, sw);
    // The dilated rows and columns the convolution needs; anything past them is cut, anything short is padded.
    const need = [h + fh - 1 - before[0], w + fw - 1 - before[1]];
    if (dyd.shape[1] > need[0] || dyd.shape[2] > need[1]) {
      const size = [dyd.shape[0], Math.min(dyd.shape[1], need[0]), Math.min(dyd.shape[2], need[1]), dyd.shape[3]];
      const cut = callKernel('Slice', backend, { x: dyd }, { begin: [0, 0, 0, 0], size });
      if (dyd !== dy) backend.disposeData(dyd.dataId);
      dyd = cut;
    }
    const after = [need[0] - dyd.shape[1], need[1] - dyd.shape[2]];

    const rev = callKernel('Reverse', backend, { x: filter }, { dims: [0, 1] });
    const wt = callKernel('Transpose', backend, { x: rev }, { perm: [0, 1, 3, 2] });
    backend.disposeData(rev.dataId);
    const out = callKernel('Conv2D', backend, { x: dyd, filter: wt }, {
      strides: [1, 1],
      pad: [[0, 0], [before[0], after[0]], [before[1], after[1]], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [1, 1],
    });
    backend.disposeData(wt.dataId);
    if (dyd !== dy) backend.disposeData(dyd.dataId);
    return out;
  };
}

/** Wraps the built-in kernel (kept for paddings larger than the filter); keeps its setup, which binds its wasm function. */
export function conv2DBackpropInputConfig(builtin: tf.KernelConfig | undefined): TypedKernelConfig<'dy' | 'filter', BackpropInputAttrs> {
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    setupFunc: builtin?.setupFunc,
    kernelFunc: makeBackpropInput(builtin?.kernelFunc),
  };
}
