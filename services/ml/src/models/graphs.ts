/**
 * The built-in networks as ModelGraphs (graph.ts), with the param names of their `params`. Kept free of TF.js so the
 * exports (ml/export), which the API loads, can rebuild a built-in model's graph from an artifact's meta.
 * test/export.graphs.test.ts holds each graph to its model's `forward` (through the ONNX export in onnxruntime).
 */
import type { GraphNode, ModelGraph } from './graph.ts';

type Shape = [number, number, number];

const INPUT = 'input';

/** cnn5.ts: conv-maxpool-relu, conv-relu-avgpool, conv-relu-avgpool, fc, fc (no nonlinearity between the fcs). */
export function cnn5Graph(inputShape: Shape): ModelGraph {
  const same = { strides: [1, 1] as [number, number], padding: 'same' as const };
  const pool = { size: [3, 3] as [number, number], strides: [2, 2] as [number, number], padding: 'same' as const };
  const nodes: GraphNode[] = [
    { name: 'conv1', op: 'conv2d', input: INPUT, kernel: 'conv1/kernel', bias: 'conv1/bias', ...same },
    { name: 'pool1', op: 'maxPool', input: 'conv1', ...pool },
    { name: 'relu1', op: 'activation', input: 'pool1', activation: 'relu' },
    { name: 'conv2', op: 'conv2d', input: 'relu1', kernel: 'conv2/kernel', bias: 'conv2/bias', ...same, activation: 'relu' },
    { name: 'pool2', op: 'avgPool', input: 'conv2', ...pool },
    { name: 'conv3', op: 'conv2d', input: 'pool2', kernel: 'conv3/kernel', bias: 'conv3/bias', ...same, activation: 'relu' },
    { name: 'pool3', op: 'avgPool', input: 'conv3', ...pool },
    { name: 'flatten', op: 'flatten', input: 'pool3' },
    { name: 'fc1', op: 'dense', input: 'flatten', kernel: 'fc1/kernel', bias: 'fc1/bias' },
    { name: 'fc2', op: 'dense', input: 'fc1', kernel: 'fc2/kernel', bias: 'fc2/bias' },
  ];
  return { input: { name: INPUT, shape: inputShape }, nodes, output: 'fc2' };
}

/** mlp.ts: flatten, fc 128 + ReLU, fc. */
export function mlpGraph(inputShape: Shape): ModelGraph {
  const nodes: GraphNode[] = [
    { name: 'flatten', op: 'flatten', input: INPUT },
    { name: 'fc1', op: 'dense', input: 'flatten', kernel: 'fc1/kernel', bias: 'fc1/bias', activation: 'relu' },
    { name: 'fc2', op: 'dense', input: 'fc1', kernel: 'fc2/kernel', bias: 'fc2/bias' },
  ];
  return { input: { name: INPUT, shape: inputShape }, nodes, output: 'fc2' };
}

/** PyTorch's default; layers.ts's BatchNorm uses it too (defined here, where no TF.js is loaded). */
export const BN_EPSILON = 1e-5;

const convBn = (nodes: GraphNode[], name: string, bn: string, input: string, stride: number): string => {
  nodes.push({ name, op: 'conv2d', input, kernel: `${name}/kernel`, strides: [stride, stride], padding: 'same' });
  nodes.push({ name: bn, op: 'batchNorm', input: name, gamma: `${bn}/gamma`, beta: `${bn}/beta`, mean: `${bn}/mean`, variance: `${bn}/variance`, epsilon: BN_EPSILON });
  return bn;
};

/** resnet20.ts: widths 16, 32, 64, three basic blocks each, option-A shortcuts, global average pool, fc. */
export function resnet20Graph(inputShape: Shape): ModelGraph {
  const widths = [16, 32, 64];
  const nodes: GraphNode[] = [];
  nodes.push({ name: 'relu1', op: 'activation', input: convBn(nodes, 'conv1', 'bn1', INPUT, 1), activation: 'relu' });
  let y = 'relu1';
  let cin = widths[0];
  widths.forEach((width, s) => {
    for (let b = 0; b < 3; b++) {
      const name = `stage${s + 1}/block${b + 1}`;
      const stride = s > 0 && b === 0 ? 2 : 1;
      nodes.push({ name: `${name}/relu1`, op: 'activation', input: convBn(nodes, `${name}/conv1`, `${name}/bn1`, y, stride), activation: 'relu' });
      const residual = convBn(nodes, `${name}/conv2`, `${name}/bn2`, `${name}/relu1`, 1);
      let shortcut = y;
      if (stride > 1) {
        nodes.push({ name: `${name}/subsample`, op: 'avgPool', input: shortcut, size: [1, 1], strides: [stride, stride], padding: 'same' });
        shortcut = `${name}/subsample`;
      }
      if (width > cin) {
        const before = Math.floor((width - cin) / 2);
        nodes.push({ name: `${name}/pad`, op: 'padChannels', input: shortcut, before, after: width - cin - before });
        shortcut = `${name}/pad`;
      }
      nodes.push({ name: `${name}/add`, op: 'add', inputs: [residual, shortcut] });
      nodes.push({ name: `${name}/relu2`, op: 'activation', input: `${name}/add`, activation: 'relu' });
      y = `${name}/relu2`;
      cin = width;
    }
  });
  nodes.push({ name: 'pool', op: 'globalAvgPool', input: y });
  nodes.push({ name: 'fc', op: 'dense', input: 'pool', kernel: 'fc/kernel', bias: 'fc/bias' });
  return { input: { name: INPUT, shape: inputShape }, nodes, output: 'fc' };
}

/** vgg-small.ts: six 3x3 conv + BatchNorm + ReLU, a 2x2 max pool after every second, flatten, fc. */
export function vggSmallGraph(inputShape: Shape): ModelGraph {
  const nodes: GraphNode[] = [];
  let y = INPUT;
  for (let i = 1; i <= 6; i++) {
    nodes.push({ name: `relu${i}`, op: 'activation', input: convBn(nodes, `conv${i}`, `bn${i}`, y, 1), activation: 'relu' });
    y = `relu${i}`;
    if (i % 2 === 0) {
      nodes.push({ name: `pool${i / 2}`, op: 'maxPool', input: y, size: [2, 2], strides: [2, 2], padding: 'same' });
      y = `pool${i / 2}`;
    }
  }
  nodes.push({ name: 'flatten', op: 'flatten', input: y });
  nodes.push({ name: 'fc', op: 'dense', input: 'flatten', kernel: 'fc/kernel', bias: 'fc/bias' });
  return { input: { name: INPUT, shape: inputShape }, nodes, output: 'fc' };
}

const GRAPHS: Record<string, (inputShape: Shape) => ModelGraph> = { cnn5: cnn5Graph, mlp: mlpGraph, resnet20: resnet20Graph, 'vgg-small': vggSmallGraph };

/** The graph of a built-in model by name, or null for a name that is not one. */
export function builtinGraph(name: string, inputShape: Shape): ModelGraph | null {
  const build = Object.hasOwn(GRAPHS, name) ? GRAPHS[name] : undefined;
  return build ? build(inputShape) : null;
}
