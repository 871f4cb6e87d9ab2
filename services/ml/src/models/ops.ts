/**
 * conv2d (stride 1, 'same') plus bias as one op with a hand-written gradient, to skip work the generic path does:
 * - the forward pass is the backends' fused convolution (the bias add happens inside it);
 * - the filter and bias gradients come from one kernel (kernels/wasm/conv2d-backprop-filter-bias.ts; one oneDNN
 *   primitive with the native kernels, the in-heap bias sum on plain wasm);
 * - the input gradient is skipped (zeros) for the first layer, whose input is data.
 * The filter and input gradients run the registered Conv2DBackprop kernels of whatever backend is active.
 */
import * as tf from '@tensorflow/tfjs';
import { conv2DFilterBiasGrad } from '../kernels/wasm/conv2d-backprop-filter-bias.ts';

const SAME = { strides: [1, 1] as [number, number], pad: 'same' as const, dataFormat: 'NHWC' as const, dimRoundingMode: undefined };

function makeConvBias(needInputGrad: boolean) {
  return tf.customGrad((...args: unknown[]) => {
    const [x, k, b, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, (t: tf.Tensor[]) => void];
    save([x, k]);
    const value = tf.fused.conv2d({ x, filter: k, bias: b, strides: 1, pad: 'same' });
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ks] = saved as [tf.Tensor4D, tf.Tensor4D];
      const engine = tf.engine();
      const [dk, db] = conv2DFilterBiasGrad(xs, dy, { ...SAME, filterShape: ks.shape });
      const dx = needInputGrad ? (engine.runKernel('Conv2DBackpropInput', { dy, filter: ks }, { ...SAME, inputShape: xs.shape } as never) as tf.Tensor) : tf.zerosLike(xs);
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
