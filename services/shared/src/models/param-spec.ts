/**
 * One weight tensor of a model. Kernels are always quantized; biases and BatchNorm scales only when the config asks.
 * 'state' params are BatchNorm's running mean and variance: not trained by SGD (the training loop updates them from
 * the batch moments the forward pass reports), never quantized, stored in checkpoints and artifacts like the others.
 * (In shared beside the ModelGraph: the TF.js Layers import, which the API runs, produces param specs too.)
 */
export interface ParamSpec {
  name: string;
  shape: number[];
  kind: 'kernel' | 'bias' | 'scale' | 'state';
  /** Inputs feeding one output unit (for initialization). */
  fanIn: number;
  /** Constant initial value of a non-kernel (default 0): BatchNorm's scale and running variance start at 1. */
  init?: number;
}
