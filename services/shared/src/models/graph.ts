/**
 * A model's computation as data: the contract between model sources (the built-in networks, an uploaded TF.js Layers
 * model) and everything that must reproduce the function outside a `forward` closure (the graph interpreter that
 * trains uploaded models, the ONNX and TF.js Layers exports).
 *
 * Conventions:
 * - Tensors are NHWC (the TF.js layout); a node's `input`/`inputs` name earlier nodes or the graph's input.
 * - Weights are named by `ParamSpec.name` (a model's `params`), never by position, so folding or reordering params
 *   cannot silently mismatch a node.
 * - Conv kernels are [kh, kw, cin, cout] (depthwise: [kh, kw, cin, multiplier]), dense kernels [in, out].
 * - The graph ends in logits; `outputActivation: 'softmax'` records a final softmax the source had, which training
 *   leaves out (it trains on the logits) and exports put back.
 * - Padding 'same' is TF's (extra padding after, i.e. ONNX SAME_UPPER); average pooling never counts padding.
 */

export type Activation = 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'softmax' | 'linear';

interface NodeBase {
  /** Unique among the graph's nodes and different from the input's name. */
  name: string;
}

export type GraphNode =
  | (NodeBase & {
      op: 'conv2d';
      input: string;
      kernel: string;
      bias?: string;
      strides: [number, number];
      padding: 'same' | 'valid';
      dilations?: [number, number];
      /** DepthwiseConv2D: kernel [kh, kw, cin, multiplier]. */
      depthwise?: boolean;
      activation?: Activation;
    })
  | (NodeBase & { op: 'dense'; input: string; kernel: string; bias?: string; activation?: Activation })
  | (NodeBase & { op: 'batchNorm'; input: string; gamma: string; beta: string; mean: string; variance: string; epsilon: number })
  | (NodeBase & { op: 'activation'; input: string; activation: Activation })
  | (NodeBase & { op: 'maxPool' | 'avgPool'; input: string; size: [number, number]; strides: [number, number]; padding: 'same' | 'valid' })
  | (NodeBase & { op: 'globalAvgPool'; input: string })
  | (NodeBase & { op: 'flatten'; input: string })
  /** Target shape without the batch dimension. */
  | (NodeBase & { op: 'reshape'; input: string; shape: number[] })
  | (NodeBase & { op: 'add'; inputs: string[] })
  /** Concatenation along the channel (last) axis. */
  | (NodeBase & { op: 'concat'; inputs: string[] })
  /** Identity at evaluation; kept so exports and the topology read like the source. */
  | (NodeBase & { op: 'dropout'; input: string; rate: number })
  /** Zeros added on the channel (last) axis: `before` channels in front, `after` behind (ResNet's option-A shortcut). */
  | (NodeBase & { op: 'padChannels'; input: string; before: number; after: number });

export type GraphOp = GraphNode['op'];

export interface ModelGraph {
  input: { name: string; shape: [number, number, number] };
  /** Topological order: a node only reads the input and nodes before it. */
  nodes: GraphNode[];
  /** The node whose value is the logits [batch, numClasses]. */
  output: string;
  outputActivation?: 'softmax';
}

/** The names of the tensors a node reads. */
export function nodeInputs(node: GraphNode): string[] {
  return 'inputs' in node ? node.inputs : [node.input];
}

/** The param names a node uses, in a fixed order per op. */
export function nodeParams(node: GraphNode): string[] {
  switch (node.op) {
    case 'conv2d':
    case 'dense':
      return node.bias ? [node.kernel, node.bias] : [node.kernel];
    case 'batchNorm':
      return [node.gamma, node.beta, node.mean, node.variance];
    default:
      return [];
  }
}
