/**
 * conv2d (stride 1, 'same') plus bias as one op with a hand-written gradient, to skip work the generic path does:
 * - the forward pass is the backends' fused convolution (the bias add happens inside it);
 * - the bias gradient sums dy in one pass (kernels/bias-grad.ts);
 * - the input gradient is skipped (zeros) for the first layer, whose input is data.
 * The filter and input gradients run the registered Conv2DBackprop kernels of whatever backend is active.
 */
import * as tf from '@tensorflow/tfjs';
import { biasGrad } from '../kernels/bias-grad.ts';

const SAME = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined } as const;

function makeConvBias(needInputGrad: boolean) {
  return tf.customGrad((...args: unknown[]) => {
    const [x, k, b, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, (t: tf.Tensor[]) => void];
    save([x, k]);
    const value = tf.fused.conv2d({ x, filter: k, bias: b, strides: 1, pad: 'same' });
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ks] = saved as [tf.Tensor4D, tf.Tensor4D];
      const engine = tf.engine();
      const dk = engine.runKernel('Conv2DBackpropFilter', { x: xs, dy }, { ...SAME, filterShape: ks.shape } as never) as tf.Tensor;
      const dx = needInputGrad ? (engine.runKernel('Conv2DBackpropInput', { dy, filter: ks }, { ...SAME, inputShape: xs.shape } as never) as tf.Tensor) : tf.zerosLike(xs);
      const db = biasGrad(dy);
      return [dx, dk, db];
    };
    return { value, gradFunc };
  });
}

const withInputGrad = makeConvBias(true);
const withoutInputGrad = makeConvBias(false);

/** relu-free conv 'same' + bias; `input` says whether x needs a gradient (false for the network's input). */
export function convBias(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor, input = true): tf.Tensor4D {
  return (input ? withInputGrad : withoutInputGrad)(x, kernel, bias) as tf.Tensor4D;
}
