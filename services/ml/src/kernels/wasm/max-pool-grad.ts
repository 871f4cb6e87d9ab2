/**
 * MaxPoolGrad for the wasm backend. The built-in kernel recomputes each window's maximum for every input position
 * it could route to (about 100 ms for cnn5's first pool on a batch of 100, more than its forward convolution); this
 * one finds each window's argmax once and scatters dy there. It reads and writes the tensors in place in the wasm
 * heap through the backend's typedArrayFromHeap views: no copies out to JS arrays.
 * Ties go to the first maximum in row-major window order, as in the cpu backend.
 */
import type { Info, PoolGradAttrs, TypedKernelConfig } from '../types.ts';
import { poolGradSetup, type PoolGradArgs } from './pool-grad-common.ts';

export function maxPoolGradKernel(args: PoolGradArgs): Info {
  const { info, dx, x, g, out } = poolGradSetup(args);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const best = new Float32Array(C);
  const arg = new Int32Array(C);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const y0 = Math.max(0, oy * sh - top);
      const y1 = Math.min(H, oy * sh - top + fh);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = Math.max(0, ox * sw - left);
        const x1 = Math.min(W, ox * sw - left + fw);
        best.fill(-Infinity);
        arg.fill(-1);
        for (let yy = y0; yy < y1; yy++) {
          for (let xx = x0; xx < x1; xx++) {
            const base = ((n * H + yy) * W + xx) * C;
            for (let c = 0; c < C; c++) {
              const v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                arg[c] = base + c;
              }
            }
          }
        }
        const o = ((n * OH + oy) * OW + ox) * C;
        for (let c = 0; c < C; c++) if (arg[c] >= 0) out[arg[c]] += g[o + c];
      }
    }
  }
  return dx;
}

export const maxPoolGradConfig: TypedKernelConfig<'dy' | 'input', PoolGradAttrs> = { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc: maxPoolGradKernel };
