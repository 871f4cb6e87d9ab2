/**
 * What every export starts from: an artifact decoded, the graph of its model (the artifact's `meta.graph` when the
 * producer recorded one, else the built-in model named by `meta.model`), every param the graph reads checked against
 * the stored layers, and the shape of every node's value (NHWC, without the batch dimension).
 */
import { decodeArtifact, type DecodedArtifact, type DecodedLayer } from '../artifact/index.ts';
import type { GraphNode, ModelGraph } from '../models/graph.ts';
import { nodeInputs, nodeParams } from '../models/graph.ts';
import { builtinGraph } from '../models/graphs.ts';

import { ExportFormat } from '@quantlab/shared';

export const EXPORT_FORMATS = ExportFormat.options;
export type { ExportFormat };

/** Every zip entry's date: the same artifact exports to the same bytes. */
export const ZIP_MTIME = new Date('2000-01-01T00:00:00Z');

/** An artifact that cannot be exported (malformed, or its model's graph unknown or not matching its layers). */
export class ExportError extends Error {
  override name = 'ExportError';
}

export interface ExportModel {
  artifact: DecodedArtifact;
  graph: ModelGraph;
  /** The stored layers by param name. */
  layers: Map<string, DecodedLayer>;
  /** Each node's output shape (and the input's), without the batch dimension. */
  shapes: Map<string, number[]>;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Output length of a window sweep: TF's 'same' (ceil(n/s)) or 'valid'. */
function swept(n: number, window: number, stride: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? Math.ceil(n / stride) : Math.floor((n - window) / stride) + 1;
}

function outputShape(node: GraphNode, inputs: number[][], param: (name: string) => number[]): number[] {
  const [x] = inputs;
  const spatial = (what: string) => {
    if (x.length !== 3) throw new ExportError(`node ${node.name} (${what}) needs an image-shaped input, got [${x.join(', ')}]`);
    return x;
  };
  switch (node.op) {
    case 'conv2d': {
      const [h, w, c] = spatial('conv2d');
      const k = param(node.kernel);
      const [dh, dw] = node.dilations ?? [1, 1];
      if (k.length !== 4 || k[2] !== c) throw new ExportError(`node ${node.name}: kernel ${node.kernel} has shape [${k.join(', ')}] for ${c} input channels`);
      const out = node.depthwise ? c * k[3] : k[3];
      if (node.bias && size(param(node.bias)) !== out) throw new ExportError(`node ${node.name}: bias ${node.bias} does not have ${out} values`);
      return [swept(h, (k[0] - 1) * dh + 1, node.strides[0], node.padding), swept(w, (k[1] - 1) * dw + 1, node.strides[1], node.padding), out];
    }
    case 'maxPool':
    case 'avgPool': {
      const [h, w, c] = spatial(node.op);
      return [swept(h, node.size[0], node.strides[0], node.padding), swept(w, node.size[1], node.strides[1], node.padding), c];
    }
    case 'dense': {
      const k = param(node.kernel);
      if (x.length !== 1 || k.length !== 2 || k[0] !== x[0]) throw new ExportError(`node ${node.name}: kernel ${node.kernel} [${k.join(', ')}] does not fit input [${x.join(', ')}]`);
      return [k[1]];
    }
    case 'batchNorm': {
      for (const p of nodeParams(node)) if (size(param(p)) !== x[x.length - 1]) throw new ExportError(`node ${node.name}: ${p} does not have ${x[x.length - 1]} values`);
      return x;
    }
    case 'globalAvgPool':
      return [spatial('globalAvgPool')[2]];
    case 'flatten':
      return [size(x)];
    case 'reshape':
      if (size(node.shape) !== size(x)) throw new ExportError(`node ${node.name}: cannot reshape [${x.join(', ')}] to [${node.shape.join(', ')}]`);
      return node.shape;
    case 'add':
      if (inputs.some((s) => s.join() !== x.join())) throw new ExportError(`node ${node.name}: adds shapes ${inputs.map((s) => `[${s.join(', ')}]`).join(', ')}`);
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
    if (shapes.has(node.name)) throw new ExportError(`graph: node name ${node.name} is used twice`);
    const inputs = nodeInputs(node).map((name) => {
      const s = shapes.get(name);
      if (!s) throw new ExportError(`graph: node ${node.name} reads ${name}, which is not an earlier node`);
      return s;
    });
    const param = (name: string) => {
      const s = paramShape(name);
      if (!s) throw new ExportError(`graph: node ${node.name} uses weight ${name}, which the artifact does not hold`);
      return s;
    };
    shapes.set(node.name, outputShape(node, inputs, param));
  }
  if (!shapes.has(graph.output)) throw new ExportError(`graph: the output ${graph.output} is not a node`);
  return shapes;
}

function graphOf(artifact: DecodedArtifact): ModelGraph {
  const meta = artifact.meta;
  if (meta.graph !== undefined) {
    const g = meta.graph as ModelGraph;
    const wellFormed = g && typeof g === 'object' && Array.isArray(g.nodes) && g.input && typeof g.input.name === 'string' && Array.isArray(g.input.shape) && g.input.shape.length === 3;
    if (!wellFormed) throw new ExportError('graph: the artifact\'s meta.graph is not a model graph (input, nodes, output)');
    return g;
  }
  const shape = meta.inputShape;
  const valid = Array.isArray(shape) && shape.length === 3 && shape.every((d) => Number.isInteger(d) && d > 0);
  const graph = typeof meta.model === 'string' && valid ? builtinGraph(meta.model, shape as [number, number, number]) : null;
  if (!graph) throw new ExportError(`the artifact's meta names no graph and no built-in model with an input shape (model ${JSON.stringify(meta.model ?? null)})`);
  return graph;
}

/** decodeArtifact, its errors as ExportError. */
export function decodeForExport(bytes: Uint8Array): DecodedArtifact {
  try {
    return decodeArtifact(bytes);
  } catch (e) {
    throw new ExportError(`artifact: ${(e as Error).message}`);
  }
}

/** Decodes an artifact and checks that its model's graph can be built from its layers. */
export function exportModel(bytes: Uint8Array): ExportModel {
  const artifact = decodeForExport(bytes);
  const graph = graphOf(artifact);
  const layers = new Map(artifact.layers.map((l) => [l.name, l]));
  let shapes: Map<string, number[]>;
  try {
    shapes = graphShapes(graph, (name) => layers.get(name)?.shape);
  } catch (e) {
    // A graph from the meta is data: a malformed one (a missing field) fails here, not as a 500 deeper down.
    if (e instanceof ExportError) throw e;
    throw new ExportError(`graph: malformed (${(e as Error).message})`);
  }
  const logits = shapes.get(graph.output)!;
  if (logits.length !== 1) throw new ExportError(`graph: the output ${graph.output} has shape [${logits.join(', ')}], not [classes]`);
  return { artifact, graph, layers, shapes };
}

/** Param names in the order the graph first uses them. */
export function graphParams(graph: ModelGraph): string[] {
  return [...new Set(graph.nodes.flatMap(nodeParams))];
}
