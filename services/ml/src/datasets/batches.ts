/** Assembles normalized (and optionally augmented) batches from raw bytes, in JS, with the project's Rng. */
import type { Rng } from '../random.ts';
import type { Normalization, Split } from './types.ts';

export interface BatchOptions {
  shape: readonly [number, number, number];
  norm: Normalization;
  /** Random crop with 4 pixels of zero padding and a horizontal flip, drawn from this generator. */
  augment?: Rng | null;
}

const PAD = 4;

/**
 * Writes images `indices[from..from+count)` of `split` into `x` (NHWC, normalized) and their labels into `y`.
 * Padding pixels are raw 0 (black), then normalized, as in torchvision's RandomCrop before Normalize.
 */
export function fillBatch(split: Split, indices: ArrayLike<number>, from: number, count: number, x: Float32Array, y: Int32Array, opts: BatchOptions): void {
  const [h, w, c] = opts.shape;
  const size = h * w * c;
  const scale = opts.norm.std.map((s) => 1 / (255 * s));
  const offset = opts.norm.mean.map((m, ch) => -m / opts.norm.std[ch]);
  const rng = opts.augment ?? null;
  for (let b = 0; b < count; b++) {
    const src = indices[from + b];
    y[b] = split.labels[src];
    const img = split.images.subarray(src * size, (src + 1) * size);
    const out = b * size;
    if (!rng) {
      for (let i = 0; i < size; i++) {
        const ch = i % c;
        x[out + i] = img[i] * scale[ch] + offset[ch];
      }
      continue;
    }
    const dy = rng.int(2 * PAD + 1) - PAD;
    const dx = rng.int(2 * PAD + 1) - PAD;
    const flip = rng.next() < 0.5;
    for (let r = 0; r < h; r++) {
      const sr = r + dy;
      for (let q = 0; q < w; q++) {
        const sq = (flip ? w - 1 - q : q) + dx;
        const inside = sr >= 0 && sr < h && sq >= 0 && sq < w;
        for (let ch = 0; ch < c; ch++) {
          const v = inside ? img[(sr * w + sq) * c + ch] : 0;
          x[out + (r * w + q) * c + ch] = v * scale[ch] + offset[ch];
        }
      }
    }
  }
}
