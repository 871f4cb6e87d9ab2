/**
 * Per-layer bit widths (`bitsPerLayer`): which width each quantized param gets. A layer is a kernel's name without
 * `/kernel` (shared's MODEL_LAYERS); its bias (when biases are quantized) shares its width; params of other layers
 * (BatchNorm's scales and shifts) take `bits`. A width of null keeps the param in float32 (bitsPerLayer's 32).
 */
import { layerOfParam, layerWidths } from '@quantlab/shared';

export type LayerWidth = number | null;

/** A quantized param as widths see it: its name, and whether it is a kernel (a layer of its own). */
export interface WidthParam {
  name: string;
  kind?: 'kernel' | 'bias' | 'scale' | 'state';
}

/**
 * The width of each param. Without kinds every param is its own layer, in order (how tests and single-tensor users
 * call the quantizers). Throws RangeError naming an unknown layer or a list of the wrong length.
 */
export function resolveWidths(r: { bits: number; bitsPerLayer?: Record<string, number> | number[] }, params: readonly WidthParam[]): LayerWidth[] {
  if (r.bitsPerLayer === undefined) return params.map(() => r.bits);
  const kernels = params.some((p) => p.kind !== undefined) ? params.filter((p) => p.kind === 'kernel') : params;
  const layers = kernels.map((p) => layerOfParam(p.name));
  if (Array.isArray(r.bitsPerLayer) && r.bitsPerLayer.length !== layers.length) {
    throw new RangeError(`bitsPerLayer lists ${r.bitsPerLayer.length} widths for ${layers.length} layers (${layers.join(', ')})`);
  }
  if (!Array.isArray(r.bitsPerLayer)) {
    for (const name of Object.keys(r.bitsPerLayer)) if (!layers.includes(name)) throw new RangeError(`bitsPerLayer names layer "${name}"; the layers are ${layers.join(', ')}`);
  }
  const widths = layerWidths(r.bits, r.bitsPerLayer, layers);
  const byLayer = new Map(layers.map((l, i) => [l, widths[i]]));
  return params.map((p) => {
    const w = byLayer.get(layerOfParam(p.name)) ?? r.bits;
    return w === 32 && r.bitsPerLayer !== undefined ? null : w;
  });
}
