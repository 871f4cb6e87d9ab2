/** A small dense network for quick tests: flatten -> fc 128 -> ReLU -> fc classes. */
import * as tf from '@tensorflow/tfjs';
import { mlpGraph } from './graphs.ts';
import type { Model } from './types.ts';

const HIDDEN = 128;

export function mlp(inputShape: [number, number, number], numClasses: number): Model {
  const inputs = inputShape[0] * inputShape[1] * inputShape[2];
  return {
    name: 'mlp',
    inputShape,
    numClasses,
    params: [
      { name: 'fc1/kernel', shape: [inputs, HIDDEN], kind: 'kernel', fanIn: inputs },
      { name: 'fc1/bias', shape: [HIDDEN], kind: 'bias', fanIn: inputs },
      { name: 'fc2/kernel', shape: [HIDDEN, numClasses], kind: 'kernel', fanIn: HIDDEN },
      { name: 'fc2/bias', shape: [numClasses], kind: 'bias', fanIn: HIDDEN },
    ],
    graph: mlpGraph(inputShape),
    forward(p, x) {
      const f = tf.reshape(x, [x.shape[0], inputs]) as tf.Tensor2D;
      const hidden = tf.relu(tf.add(tf.matMul(f, p[0] as tf.Tensor2D), p[1])) as tf.Tensor2D;
      return tf.add(tf.matMul(hidden, p[2] as tf.Tensor2D), p[3]) as tf.Tensor2D;
    },
  };
}
