import * as tf from '@tensorflow/tfjs';
import { fillBatch, type Normalization, type Split } from '../datasets/index.ts';
import type { Model } from '../models/index.ts';
import { RunInputError } from '../errors.ts';

const EVAL_BATCH = 500;

/**
 * Accuracy of `model` with `weights` (tensors, in param order) on `split`, in batches. With `hits` (⌈count/8⌉
 * bytes), bit i (byte i >> 3, bit i & 7) is set when test image i is classified correctly. Non-finite outputs fail
 * (RunInputError) instead of being scored.
 */
export function evaluateSplit(model: Model, weights: readonly tf.Tensor[], split: Split, norm: Normalization, hits?: Uint8Array): number {
  const [h, w, c] = model.inputShape;
  const size = h * w * c;
  const batch = Math.min(EVAL_BATCH, split.count);
  const x = new Float32Array(batch * size);
  const y = new Int32Array(batch);
  const order = Int32Array.from({ length: split.count }, (_, i) => i);
  let correct = 0;
  for (let from = 0; from < split.count; from += batch) {
    const n = Math.min(batch, split.count - from);
    fillBatch(split, order, from, n, x, y, { shape: model.inputShape, norm });
    const { right, total } = tf.tidy(() => {
      const logits = model.forward(weights, tf.tensor4d(x.subarray(0, n * size), [n, h, w, c]));
      return {
        right: tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(y.subarray(0, n), 'int32')), 'int32').dataSync() as Int32Array,
        // One NaN or ±Inf logit makes the sum non-finite: argMax would pick a class anyway, a silently wrong accuracy.
        total: tf.sum(logits).dataSync()[0],
      };
    });
    if (!Number.isFinite(total)) {
      throw new RunInputError(`numerical fault in evaluation: the model's outputs on test images ${from + 1}-${from + n} are not finite (their sum is ${total}); its weights overflow float32 on these inputs`);
    }
    for (let i = 0; i < n; i++) {
      if (right[i] === 0) continue;
      correct++;
      if (hits) hits[(from + i) >> 3] |= 1 << ((from + i) & 7);
    }
  }
  return correct / split.count;
}

/** Uploads weight arrays as tensors shaped like the model's params (the caller disposes them). */
export function weightTensors(model: Model, values: readonly Float32Array[]): tf.Tensor[] {
  return model.params.map((p, i) => tf.tensor(values[i], p.shape, 'float32'));
}
