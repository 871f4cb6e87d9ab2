/**
 * AvgPoolGrad for the wasm backend, in place in the heap. Besides being faster than the built-in kernel, it is the
 * exact gradient of TF.js's forward average pool: with 'same' padding the forward divides each window by the number
 * of input cells it covers, but the built-in gradients (wasm and cpu) divide by the full window size, which
 * underweights the border cells. Here each window's dy is spread over its covered cells, divided by their count.
 */
import type { Info, PoolGradAttrs, TypedKernelConfig } from '../types.ts';
import { poolGradSetup, type PoolGradArgs } from './pool-grad-common.ts';

export function avgPoolGradKernel(args: PoolGradArgs): Info {
  const { info, dx, g, out } = poolGradSetup(args);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const share = new Float32Array(C);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const y0 = Math.max(0, oy * sh - top);
      const y1 = Math.min(H, oy * sh - top + fh);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = Math.max(0, ox * sw - left);
        const x1 = Math.min(W, ox * sw - left + fw);
        const count = (y1 - y0) * (x1 - x0);
        if (count <= 0) continue;
        const o = ((n * OH + oy) * OW + ox) * C;
        for (let c = 0; c < C; c++) share[c] = g[o + c] / count;
        for (let yy = y0; yy < y1; yy++) {
          for (let xx = x0; xx < x1; xx++) {
            const base = ((n * H + yy) * W + xx) * C;
            for (let c = 0; c < C; c++) out[base + c] += share[c];
          }
        }
      }
    }
  }
  return dx;
}

export const avgPoolGradConfig: TypedKernelConfig<'dy' | 'input', PoolGradAttrs> = { kernelName: 'AvgPoolGrad', backendName: 'wasm', kernelFunc: avgPoolGradKernel };
