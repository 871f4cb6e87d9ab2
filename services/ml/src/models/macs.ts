/**
 * Multiply-accumulates of one image's forward pass, counted from each kernel's shape and the spatial size of its
 * output: a conv kernel [kh, kw, cin, cout] costs kh·kw·cin·cout MACs at each output position, a dense kernel
 * [in, out] in·out. Every conv here pads 'same', so a stride-s conv or pool of an n-pixel side gives ⌈n/s⌉.
 * Biases, BatchNorm (foldable into the conv at inference), pooling and activations are not MACs and are left out.
 */
import type { ModelGraph } from './graph.ts';
import { graphShapes } from './graph-shapes.ts';
import type { Model } from './types.ts';

const halve = (n: number) => Math.ceil(n / 2);

/** Output positions (height × width) of each conv kernel of a built-in model, by param name; dense kernels: 1. */
function outputSide(model: Model, kernel: string): [number, number] {
  const [h, w] = model.inputShape;
  const times = (k: number): [number, number] => {
    let a = h;
    let b = w;
    for (let i = 0; i < k; i++) [a, b] = [halve(a), halve(b)];
    return [a, b];
  };
  const layer = kernel.slice(0, kernel.lastIndexOf('/'));
  switch (model.name) {
    case 'cnn5':
      // conv1 at the input; a stride-2 pool before conv2 and before conv3.
      return times({ conv1: 0, conv2: 1, conv3: 2 }[layer] ?? 0);
    case 'vgg-small':
      // A stride-2 pool after every second conv.
      return times(Math.floor((Number(layer.slice('conv'.length)) - 1) / 2));
    case 'resnet20': {
      // Stage s (1-3) runs at the input halved s - 1 times (its first conv has stride 2); conv1 at the input.
      const stage = /^stage(\d)\//.exec(layer);
      return times(stage ? Number(stage[1]) - 1 : 0);
    }
    default:
      return [1, 1];
  }
}

/** Output positions (height × width) of each conv kernel of a model given as a graph (an uploaded one), by param name. */
function graphOutputSides(graph: ModelGraph, shapeOf: (param: string) => number[] | undefined): Map<string, [number, number]> {
  const shapes = graphShapes(graph, shapeOf);
  const out = new Map<string, [number, number]>();
  for (const node of graph.nodes) {
    if (node.op === 'conv2d') {
      const [h, w] = shapes.get(node.name)!;
      out.set(node.kernel, [h, w]);
    }
  }
  return out;
}

const BUILT_IN = ['cnn5', 'mlp', 'resnet20', 'vgg-small'];

/** MACs per image of each kernel, in param order. Throws for a model this file does not know the geometry of. */
export function macsPerLayer(model: Model): { name: string; macs: number }[] {
  const shapes = new Map(model.params.map((p) => [p.name, p.shape]));
  const fromGraph = BUILT_IN.includes(model.name) ? null : model.graph ? graphOutputSides(model.graph, (n) => shapes.get(n)) : null;
  if (!BUILT_IN.includes(model.name) && !fromGraph) throw new Error(`MAC count: unknown model ${model.name}`);
  return model.params
    .filter((p) => p.kind === 'kernel')
    .map((p) => {
      const weights = p.shape.reduce((a, b) => a * b, 1);
      if (p.shape.length === 2) return { name: p.name, macs: weights };
      const [oh, ow] = fromGraph ? (fromGraph.get(p.name) ?? [1, 1]) : outputSide(model, p.name);
      return { name: p.name, macs: weights * oh * ow };
    });
}

export function macsPerImage(model: Model): number {
  return macsPerLayer(model).reduce((n, l) => n + l.macs, 0);
}
