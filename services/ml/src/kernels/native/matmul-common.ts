import type { Info, MatMulAttrs } from '../types.ts';

const dims = new Int32Array(6);

/**
 * The product's dimensions for the addon ([batch, m, k, n, transposeA, transposeB]) and its output shape, when both
 * operands are 2-D or both 3-D with the same batch; null otherwise (broadcast batches go to wasm).
 */
export function matmulDims(a: Info, b: Info, attrs: MatMulAttrs): { dims: Int32Array; outShape: number[] } | null {
  const ra = a.shape.length;
  if (ra !== b.shape.length || (ra !== 2 && ra !== 3)) return null;
  const batch = ra === 3 ? a.shape[0] : 1;
  if (ra === 3 && b.shape[0] !== batch) return null;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = attrs.transposeA ? ac : ar;
  const k = attrs.transposeA ? ar : ac;
  const n = attrs.transposeB ? br : bc;
  if ((attrs.transposeB ? bc : br) !== k) return null;
  dims.set([batch, m, k, n, attrs.transposeA ? 1 : 0, attrs.transposeB ? 1 : 0]);
  return { dims, outShape: ra === 3 ? [batch, m, n] : [m, n] };
}
