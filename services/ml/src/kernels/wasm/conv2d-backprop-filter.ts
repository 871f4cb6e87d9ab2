/**
 * Conv2DBackpropFilter for the wasm backend (which has none), composed from its forward Conv2D inside the heap:
 * dW[a,b,c,o] = sum_{n,i,j} xpad[n, i*s+a, j*s+b, c] * dy[n,i,j,o] is a forward convolution of x with batch and
 * channels swapped ([C,H,W,N]) by dy as the filter ([oh,ow,N,O]), dilated by the forward stride, then transposed
 * back (see docs/PERFORMANCE.md).
 */
import type { BackpropFilterAttrs, Info, KernelArgs, TypedKernelConfig } from '../types.ts';
import { callKernel, convInfo } from './call.ts';

export type BackpropFilterArgs = KernelArgs<'x' | 'dy', BackpropFilterAttrs>;

export function conv2DBackpropFilter({ inputs, backend, attrs }: BackpropFilterArgs): Info {
  const { x, dy } = inputs;
  const info = convInfo(x.shape, attrs.filterShape, { ...attrs, dilations: 1 }, 'Conv2DBackpropFilter');
  const { top, bottom, left, right } = info.padInfo;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const xt = callKernel('Transpose', backend, { x }, { perm: [3, 1, 2, 0] });
  const dyt = callKernel('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] });
  let conv = callKernel('Conv2D', backend, { x: xt, filter: dyt }, {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [sh, sw],
  });
  backend.disposeData(xt.dataId);
  backend.disposeData(dyt.dataId);
  // With a stride, the dilated convolution can cover up to stride-1 positions past the filter: cut them off.
  if (conv.shape[1] !== fh || conv.shape[2] !== fw) {
    const cut = callKernel('Slice', backend, { x: conv }, { begin: [0, 0, 0, 0], size: [conv.shape[0], fh, fw, conv.shape[3]] });
    backend.disposeData(conv.dataId);
    conv = cut;
  }
  const out = callKernel('Transpose', backend, { x: conv }, { perm: [1, 2, 0, 3] });
  backend.disposeData(conv.dataId);
  return out;
}

export const conv2DBackpropFilterConfig: TypedKernelConfig<'x' | 'dy', BackpropFilterAttrs> = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter,
};
