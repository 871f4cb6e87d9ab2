/**
 * The shape of every value of a model graph (NHWC, without the batch dimension), checking as it goes that each node's
 * inputs and params exist and fit: what the exports build on and what MAC counts of uploaded models walk.
 */
import type { GraphNode, ModelGraph } from './graph.ts';
import { nodeInputs, nodeParams } from './graph.ts';

/** A graph whose nodes or params do not fit together. */
export class GraphShapeError extends Error {
  override name = 'GraphShapeError';
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Output length of a window sweep: TF's 'same' (ceil(n/s)) or 'valid'. */
function swept(n: number, window: number, stride: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? Math.ceil(n / stride) : Math.floor((n - window) / stride) + 1;
}

function outputShape(node: GraphNode, inputs: number[][], param: (name: string) => number[]): number[] {
  const [x] = inputs;
  const spatial = (what: string) => {
    if (x.length !== 3) throw new GraphShapeError(`node ${node.name} (${what}) needs an image-shaped input, got [${x.join(', ')}]`);
    return x;
  };
  switch (node.op) {
    case 'conv2d': {
      const [h, w, c] = spatial('conv2d');
      const k = param(node.kernel);
      const [dh, dw] = node.dilations ?? [1, 1];
      if (k.length !== 4 || k[2] !== c) throw new GraphShapeError(`node ${node.name}: kernel ${node.kernel} has shape [${k.join(', ')}] for ${c} input channels`);
      const out = node.depthwise ? c * k[3] : k[3];
      if (node.bias && size(param(node.bias)) !== out) throw new GraphShapeError(`node ${node.name}: bias ${node.bias} does not have ${out} values`);
      return [swept(h, (k[0] - 1) * dh + 1, node.strides[0], node.padding), swept(w, (k[1] - 1) * dw + 1, node.strides[1], node.padding), out];
    }
    case 'maxPool':
    case 'avgPool': {
      const [h, w, c] = spatial(node.op);
      return [swept(h, node.size[0], node.strides[0], node.padding), swept(w, node.size[1], node.strides[1], node.padding), c];
    }
    case 'dense': {
      const k = param(node.kernel);
      if (x.length !== 1 || k.length !== 2 || k[0] !== x[0]) throw new GraphShapeError(`node ${node.name}: kernel ${node.kernel} [${k.join(', ')}] does not fit input [${x.join(', ')}]`);
      return [k[1]];
    }
    case 'batchNorm': {
      for (const p of nodeParams(node)) if (size(param(p)) !== x[x.length - 1]) throw new GraphShapeError(`node ${node.name}: ${p} does not have ${x[x.length - 1]} values`);
      return x;
    }
    case 'globalAvgPool':
      return [spatial('globalAvgPool')[2]];
    case 'flatten':
      return [size(x)];
    case 'reshape':
      if (size(node.shape) !== size(x)) throw new GraphShapeError(`node ${node.name}: cannot reshape [${x.join(', ')}] to [${node.shape.join(', ')}]`);
      return node.shape;
    case 'add':
      if (inputs.some((s) => s.join() !== x.join())) throw new GraphShapeError(`node ${node.name}: adds shapes ${inputs.map((s) => `[${s.join(', ')}]`).join(', ')}`);
      return x;
    case 'concat':
      return [...x.slice(0, -1), inputs.reduce((s, t) => s + t[t.length - 1], 0)];
    case 'padChannels':
      return [...x.slice(0, -1), x[x.length - 1] + node.before + node.after];
    case 'activation':
    case 'dropout':
      return x;
  }
}

/** Shapes of the input and every node, checking that each node's inputs and params exist. */
export function graphShapes(graph: ModelGraph, paramShape: (name: string) => number[] | undefined): Map<string, number[]> {
  const shapes = new Map<string, number[]>([[graph.input.name, [...graph.input.shape]]]);
  for (const node of graph.nodes) {
    if (shapes.has(node.name)) throw new GraphShapeError(`graph: node name ${node.name} is used twice`);
    const inputs = nodeInputs(node).map((name) => {
      const s = shapes.get(name);
      if (!s) throw new GraphShapeError(`graph: node ${node.name} reads ${name}, which is not an earlier node`);
      return s;
    });
    const param = (name: string) => {
      const s = paramShape(name);
      if (!s) throw new GraphShapeError(`graph: node ${node.name} uses weight ${name}, which the artifact does not hold`);
      return s;
    };
    shapes.set(node.name, outputShape(node, inputs, param));
  }
  if (!shapes.has(graph.output)) throw new GraphShapeError(`graph: the output ${graph.output} is not a node`);
  return shapes;
}
