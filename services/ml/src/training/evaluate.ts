import * as tf from '@tensorflow/tfjs';
import { fillBatch, type Normalization, type Split } from '../datasets/index.ts';
import type { Model } from '../models/index.ts';

const EVAL_BATCH = 500;

/** Accuracy of `model` with `weights` (tensors, in param order) on `split`, in batches. */
export function evaluateSplit(model: Model, weights: readonly tf.Tensor[], split: Split, norm: Normalization): number {
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
    correct += tf.tidy(() => {
      const logits = model.forward(weights, tf.tensor4d(x.subarray(0, n * size), [n, h, w, c]));
      const hits = tf.equal(tf.argMax(logits, 1), tf.tensor1d(y.subarray(0, n), 'int32'));
      return tf.sum(tf.cast(hits, 'int32')).dataSync()[0];
    });
  }
  return correct / split.count;
}

/** Uploads weight arrays as tensors shaped like the model's params (the caller disposes them). */
export function weightTensors(model: Model, values: readonly Float32Array[]): tf.Tensor[] {
  return model.params.map((p, i) => tf.tensor(values[i], p.shape, 'float32'));
}
