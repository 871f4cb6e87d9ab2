/**
 * SGD with momentum and weight decay (PyTorch's formulation) on the float master weights, in JS: the master weights
 * live in typed arrays so quantizers can read them and checkpoints can save them without a round trip.
 *   g' = g + weightDecay * w   (kernels only; biases are not decayed)
 *   v  = momentum * v + g'
 *   w  = w - lr * v
 * Params without a gradient (null: BatchNorm's running stats) are left alone.
 */
export function sgdStep(
  weights: Float32Array[],
  velocity: Float32Array[],
  grads: readonly (Float32Array | null)[],
  decays: readonly boolean[],
  opts: { lr: number; momentum: number; weightDecay: number },
): void {
  const { lr, momentum } = opts;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    const v = velocity[i];
    const g = grads[i];
    if (!g) continue;
    const wd = decays[i] ? opts.weightDecay : 0;
    for (let j = 0; j < w.length; j++) {
      const vj = momentum * v[j] + g[j] + wd * w[j];
      v[j] = vj;
      w[j] -= lr * vj;
    }
  }
}
