/**
 * What every export starts from: an artifact decoded, the graph of its model (the artifact's `meta.graph` when the
 * producer recorded one, else the built-in model named by `meta.model`), every param the graph reads checked against
 * the stored layers, and the shape of every node's value (NHWC, without the batch dimension).
 */
import { decodeArtifact, type DecodedArtifact, type DecodedLayer } from '../artifact/index.ts';
import type { ModelGraph } from '../models/graph.ts';
import { nodeParams } from '../models/graph.ts';
import { GraphShapeError, graphShapes } from '../models/graph-shapes.ts';
import { builtinGraph } from '../models/graphs.ts';

import { ExportFormat } from '@quantlab/shared';

export const EXPORT_FORMATS = ExportFormat.options;
export type { ExportFormat };
export { graphShapes };

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
    if (e instanceof GraphShapeError) throw new ExportError(e.message);
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
