/**
 * VGG-Small, the CIFAR network of LQ-Nets (Zhang et al., ECCV 2018) and of later low-bit papers: six 3x3 convs of
 * 128, 128, 256, 256, 512, 512 filters, each followed by BatchNorm and ReLU, a 2x2 max pool after every second conv,
 * then one fc layer: 4.66 M params on 32x32x3. Pools use 'same' padding, so 28x28x1 gives 28 -> 14 -> 7 -> 4.
 * About 1.2 GFLOP per 32x32 image forward (49x cnn5): on one CPU core expect a few images a second in training.
 */
import * as tf from '@tensorflow/tfjs';
import { vggSmallGraph } from './graphs.ts';
import { WeightReader, batchNorm, bnSpecs, conv, convSpec, dense, denseSpecs } from './layers.ts';
import type { ForwardOptions, Model, ParamSpec } from './types.ts';

const WIDTHS = [128, 128, 256, 256, 512, 512];
const pooled = (n: number) => Math.ceil(n / 2);

export function vggSmall(inputShape: [number, number, number], numClasses: number): Model {
  const [h, w, c] = inputShape;
  const flat = pooled(pooled(pooled(h))) * pooled(pooled(pooled(w))) * WIDTHS[WIDTHS.length - 1];
  const params: ParamSpec[] = [];
  WIDTHS.forEach((width, i) => params.push(convSpec(`conv${i + 1}`, 3, i === 0 ? c : WIDTHS[i - 1], width), ...bnSpecs(`bn${i + 1}`, width)));
  params.push(...denseSpecs('fc', flat, numClasses));
  return {
    name: 'vgg-small',
    inputShape,
    numClasses,
    params,
    graph: vggSmallGraph(inputShape),
    forward(weights, x, opts?: ForwardOptions) {
      const r = new WeightReader(weights);
      let y = x;
      WIDTHS.forEach((_, i) => {
        y = tf.relu(batchNorm(conv(y, r.next()), r.take(4), opts)) as tf.Tensor4D;
        if (i % 2 === 1) y = tf.maxPool(y, 2, 2, 'same');
      });
      return dense(tf.reshape(y, [x.shape[0], flat]) as tf.Tensor2D, r.next(), r.next());
    },
  };
}
