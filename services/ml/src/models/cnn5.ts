/**
 * The paper's 5-layer CNN in the shape of Caffe's cifar10_quick: conv 5x5x32 pad 2 -> max-pool 3/2 -> ReLU ->
 * conv 5x5x32 pad 2 -> ReLU -> avg-pool 3/2 -> conv 5x5x64 pad 2 -> ReLU -> avg-pool 3/2 -> fc 64 -> fc 10
 * (no nonlinearity between the two fc layers, as in cifar10_quick). Pools use 'same' padding, which gives Caffe's
 * ceil-mode sizes 32 -> 16 -> 8 -> 4, hence 145,578 parameters on 32x32x3; 28x28x1 gives 28 -> 14 -> 7 -> 4.
 */
import * as tf from '@tensorflow/tfjs';
import { cnn5Graph } from './graphs.ts';
import { convBias } from './ops.ts';
import type { Model, ParamSpec } from './types.ts';

const pooled = (n: number) => Math.ceil(n / 2);

export function cnn5(inputShape: [number, number, number], numClasses: number): Model {
  const [h, w, c] = inputShape;
  const flat = pooled(pooled(pooled(h))) * pooled(pooled(pooled(w))) * 64;
  const conv = (name: string, cin: number, cout: number): ParamSpec[] => [
    { name: `${name}/kernel`, shape: [5, 5, cin, cout], kind: 'kernel', fanIn: 25 * cin },
    { name: `${name}/bias`, shape: [cout], kind: 'bias', fanIn: 25 * cin },
  ];
  const fc = (name: string, nin: number, nout: number): ParamSpec[] => [
    { name: `${name}/kernel`, shape: [nin, nout], kind: 'kernel', fanIn: nin },
    { name: `${name}/bias`, shape: [nout], kind: 'bias', fanIn: nin },
  ];
  const params = [...conv('conv1', c, 32), ...conv('conv2', 32, 32), ...conv('conv3', 32, 64), ...fc('fc1', flat, 64), ...fc('fc2', 64, numClasses)];
  return {
    name: 'cnn5',
    inputShape,
    numClasses,
    params,
    graph: cnn5Graph(inputShape),
    forward(p, x) {
      let y = convBias(x, p[0], p[1], false);
      y = tf.relu(tf.maxPool(y, 3, 2, 'same'));
      y = tf.relu(convBias(y, p[2], p[3]));
      y = tf.avgPool(y, 3, 2, 'same');
      y = tf.relu(convBias(y, p[4], p[5]));
      y = tf.avgPool(y, 3, 2, 'same');
      const f = tf.reshape(y, [x.shape[0], flat]) as tf.Tensor2D;
      const fc1 = tf.add(tf.matMul(f, p[6] as tf.Tensor2D), p[7]) as tf.Tensor2D;
      return tf.add(tf.matMul(fc1, p[8] as tf.Tensor2D), p[9]) as tf.Tensor2D;
    },
  };
}
