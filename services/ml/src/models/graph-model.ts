/**
 * The graph interpreter: a Model whose forward pass walks a ModelGraph (models/graph.ts) with TF.js ops, so a model
 * that arrives as data (an uploaded TF.js Layers model) trains, quantizes and evaluates like the built-in networks.
 * Weights come in `params` order, as for every Model; nodes name them, so the order of `params` is free.
 *
 * Training mode is the training loop's ForwardOptions: `moments` set makes BatchNorm use the batch's moments (and
 * report them in the order of the 'state' params, as layers.ts batchNorm does); `dropoutRng` set makes Dropout drop
 * (masks drawn from the project's Rng, so a run reproduces and resumes). Without them both are the identity.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../random.ts';
import { nodeInputs, nodeParams, type Activation, type GraphNode, type ModelGraph } from './graph.ts';
import { convBias } from './ops.ts';
import type { ForwardOptions, Model, ModelName, ParamSpec } from './types.ts';

/** Why a graph cannot be interpreted (a node reading a missing tensor or weight, a duplicate name). */
export class GraphError extends Error {}

function activate(x: tf.Tensor, a: Activation | undefined): tf.Tensor {
  switch (a ?? 'linear') {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'softmax':
      return tf.softmax(x);
  }
}

/**
 * Depthwise convolution as an ordinary convolution with a block-diagonal kernel [kh, kw, cin, cin*m] (output channel
 * c*m + j reads input channel c only, as DepthwiseConv2D's does). Used where the backend has no depthwise gradient
 * kernels (wasm has the forward op only): cin times the work, but every op on the way has a gradient everywhere.
 */
function depthwiseAsConv(x: tf.Tensor4D, kernel: tf.Tensor4D, strides: [number, number], padding: 'same' | 'valid', dilations: [number, number]): tf.Tensor4D {
  const [kh, kw, cin, m] = kernel.shape;
  const mask = new Float32Array(cin * cin * m);
  for (let c = 0; c < cin; c++) for (let j = 0; j < m; j++) mask[c * cin * m + c * m + j] = 1;
  const full = tf.mul(tf.reshape(kernel, [kh, kw, 1, cin * m]), tf.tensor2d(mask, [cin, cin * m])) as tf.Tensor4D;
  return tf.conv2d(x, full, strides, padding, 'NHWC', dilations);
}

const hasDepthwiseGrads = () => tf.getKernel('DepthwiseConv2dNativeBackpropFilter', tf.getBackend()) !== undefined && tf.getKernel('DepthwiseConv2dNativeBackpropInput', tf.getBackend()) !== undefined;

/** Inverted dropout (as Keras): each value kept with probability 1 - rate and scaled by 1 / (1 - rate). */
function dropout(x: tf.Tensor, rate: number, rng: Rng): tf.Tensor {
  if (rate <= 0) return x;
  const keep = 1 / (1 - rate);
  const mask = new Float32Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < rate ? 0 : keep;
  return tf.mul(x, tf.tensor(mask, x.shape, 'float32'));
}

/** Checks that every node reads tensors defined before it and weights named in `params`; throws GraphError. */
export function checkGraph(graph: ModelGraph, params: readonly ParamSpec[]): void {
  const names = new Set(params.map((p) => p.name));
  if (names.size !== params.length) throw new GraphError('two params share a name');
  const defined = new Set([graph.input.name]);
  for (const node of graph.nodes) {
    if (defined.has(node.name)) throw new GraphError(`node "${node.name}": its name is used twice`);
    for (const i of nodeInputs(node)) if (!defined.has(i)) throw new GraphError(`node "${node.name}" reads "${i}", which is not defined before it`);
    for (const w of nodeParams(node)) if (!names.has(w)) throw new GraphError(`node "${node.name}" uses weight "${w}", which is not among the params`);
    defined.add(node.name);
  }
  if (!defined.has(graph.output)) throw new GraphError(`the output "${graph.output}" is not a node`);
}

/**
 * A Model computing `graph` with weights shaped by `params` (in that order). `name` is what the model is called in
 * configs and artifacts (an uploaded model's id).
 */
export function graphModel(graph: ModelGraph, params: ParamSpec[], numClasses: number, name: string = 'graph'): Model {
  checkGraph(graph, params);
  const index = new Map(params.map((p, i) => [p.name, i]));
  // Moments go out in the order of the 'state' params (the training loop pairs them with those), whatever the order
  // of the nodes.
  const stateOrder = new Map(params.flatMap((p, i) => (p.kind === 'state' ? [[p.name, i] as const] : [])));
  return {
    name: name as ModelName,
    inputShape: graph.input.shape,
    numClasses,
    params,
    graph,
    forward(weights: readonly tf.Tensor[], x: tf.Tensor4D, opts?: ForwardOptions): tf.Tensor2D {
      const w = (n: string) => weights[index.get(n)!];
      const values = new Map<string, tf.Tensor>([[graph.input.name, x]]);
      const moments: { at: number; mean: tf.Tensor; variance: tf.Tensor }[] = [];
      const one = (node: GraphNode & { input: string }) => values.get(node.input)!;
      for (const node of graph.nodes) {
        let y: tf.Tensor;
        switch (node.op) {
          case 'conv2d': {
            const input = one(node) as tf.Tensor4D;
            const kernel = w(node.kernel) as tf.Tensor4D;
            const dilations = node.dilations ?? [1, 1];
            const unit = node.strides[0] === 1 && node.strides[1] === 1 && dilations[0] === 1 && dilations[1] === 1;
            if (!node.depthwise && node.bias && unit && node.padding === 'same') {
              // The built-in networks' fast path (fused forward, one kernel for the filter and bias gradients).
              y = convBias(input, kernel, w(node.bias), node.input !== graph.input.name);
            } else {
              if (!node.depthwise) y = tf.conv2d(input, kernel, node.strides, node.padding, 'NHWC', dilations);
              else if (hasDepthwiseGrads()) y = tf.depthwiseConv2d(input, kernel, node.strides, node.padding, 'NHWC', dilations);
              else y = depthwiseAsConv(input, kernel, node.strides, node.padding, dilations);
              if (node.bias) y = tf.add(y, w(node.bias));
            }
            y = activate(y, node.activation);
            break;
          }
          case 'dense': {
            y = tf.matMul(one(node) as tf.Tensor2D, w(node.kernel) as tf.Tensor2D);
            if (node.bias) y = tf.add(y, w(node.bias));
            y = activate(y, node.activation);
            break;
          }
          case 'batchNorm': {
            const input = one(node);
            let mean = w(node.mean);
            let variance = w(node.variance);
            if (opts?.moments) {
              const m = tf.moments(input, input.shape.map((_, i) => i).slice(0, -1));
              mean = m.mean;
              variance = m.variance;
              moments.push({ at: stateOrder.get(node.mean)!, mean, variance });
            }
            // (x - mean) / sqrt(variance + eps) * gamma + beta over the last axis, for rank 2 and rank 4 alike.
            const scale = tf.mul(w(node.gamma), tf.rsqrt(tf.add(variance, node.epsilon)));
            y = tf.add(tf.mul(tf.sub(input, mean), scale), w(node.beta));
            break;
          }
          case 'activation':
            y = activate(one(node), node.activation);
            break;
          case 'maxPool':
            y = tf.maxPool(one(node) as tf.Tensor4D, node.size, node.strides, node.padding);
            break;
          case 'avgPool':
            // TF.js's average pool divides by the cells a window covers: padding never counts (TF's behaviour).
            y = tf.avgPool(one(node) as tf.Tensor4D, node.size, node.strides, node.padding);
            break;
          case 'globalAvgPool':
            y = tf.mean(one(node), [1, 2]);
            break;
          case 'flatten': {
            const input = one(node);
            y = tf.reshape(input, [input.shape[0], -1]);
            break;
          }
          case 'reshape': {
            const input = one(node);
            y = tf.reshape(input, [input.shape[0], ...node.shape]);
            break;
          }
          case 'add':
            y = node.inputs.map((i) => values.get(i)!).reduce((a, b) => tf.add(a, b));
            break;
          case 'concat':
            y = tf.concat(
              node.inputs.map((i) => values.get(i)!),
              -1,
            );
            break;
          case 'dropout':
            y = opts?.dropoutRng ? dropout(one(node), node.rate, opts.dropoutRng) : one(node);
            break;
          case 'padChannels':
            y = tf.pad(one(node), [[0, 0], [0, 0], [0, 0], [node.before, node.after]]);
            break;
        }
        values.set(node.name, y);
      }
      if (opts?.moments) {
        moments.sort((a, b) => a.at - b.at);
        for (const m of moments) opts.moments.push(tf.keep(m.mean), tf.keep(m.variance));
      }
      return values.get(graph.output)! as tf.Tensor2D;
    },
  };
}
