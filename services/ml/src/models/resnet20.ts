/**
 * ResNet-20 for CIFAR (He et al., "Deep Residual Learning for Image Recognition", 2016, section 4.2): a 3x3 conv of 16
 * filters, then three stages of three basic blocks (two 3x3 convs with BatchNorm) of 16, 32 and 64 filters, the first
 * block of stages 2 and 3 with stride 2, then global average pooling and a 10-way fc: 19 conv layers + 1 fc.
 * Shortcuts are option A, as in the paper's CIFAR experiments: identity, and where the size halves and the channels
 * double, the input subsampled by 2 and its new channels zero-padded (no parameters), so 0.27 M trainable params on
 * 32x32x3 (269,722). 28x28x1 inputs work the same way (28 -> 14 -> 7).
 */
import * as tf from '@tensorflow/tfjs';
import { resnet20Graph } from './graphs.ts';
import { WeightReader, batchNorm, bnSpecs, conv, convSpec, dense, denseSpecs } from './layers.ts';
import type { ForwardOptions, Model, ParamSpec } from './types.ts';

const WIDTHS = [16, 32, 64];
const BLOCKS = 3;

/** Option A: subsample (a 1x1 average pool of stride 2 picks every other pixel) and zero-pad the new channels. */
function shortcutA(x: tf.Tensor4D, cout: number, stride: number): tf.Tensor4D {
  const cin = x.shape[3];
  let s = stride > 1 ? tf.avgPool(x, 1, stride, 'same') : x;
  if (cout > cin) {
    const before = Math.floor((cout - cin) / 2);
    s = tf.pad(s, [
      [0, 0],
      [0, 0],
      [0, 0],
      [before, cout - cin - before],
    ]);
  }
  return s;
}

export function resnet20(inputShape: [number, number, number], numClasses: number): Model {
  const c = inputShape[2];
  const params: ParamSpec[] = [convSpec('conv1', 3, c, WIDTHS[0]), ...bnSpecs('bn1', WIDTHS[0])];
  let cin = WIDTHS[0];
  WIDTHS.forEach((width, s) => {
    for (let b = 0; b < BLOCKS; b++) {
      const name = `stage${s + 1}/block${b + 1}`;
      params.push(convSpec(`${name}/conv1`, 3, cin, width), ...bnSpecs(`${name}/bn1`, width), convSpec(`${name}/conv2`, 3, width, width), ...bnSpecs(`${name}/bn2`, width));
      cin = width;
    }
  });
  params.push(...denseSpecs('fc', cin, numClasses));

  return {
    name: 'resnet20',
    inputShape,
    numClasses,
    params,
    graph: resnet20Graph(inputShape),
    forward(weights, x, opts?: ForwardOptions) {
      const w = new WeightReader(weights);
      let y = tf.relu(batchNorm(conv(x, w.next()), w.take(4), opts)) as tf.Tensor4D;
      WIDTHS.forEach((width, s) => {
        for (let b = 0; b < BLOCKS; b++) {
          const stride = s > 0 && b === 0 ? 2 : 1;
          let r = tf.relu(batchNorm(conv(y, w.next(), stride), w.take(4), opts)) as tf.Tensor4D;
          r = batchNorm(conv(r, w.next()), w.take(4), opts);
          y = tf.relu(tf.add(r, shortcutA(y, width, stride))) as tf.Tensor4D;
        }
      });
      const pooled = tf.mean(y, [1, 2]) as tf.Tensor2D;
      return dense(pooled, w.next(), w.next());
    },
  };
}
