import type { BuiltinModel } from '@quantlab/shared';
import type { Rng } from '../random.ts';
import { cnn5 } from './cnn5.ts';
import { mlp } from './mlp.ts';
import { resnet20 } from './resnet20.ts';
import type { Model, ModelName } from './types.ts';
import { vggSmall } from './vgg-small.ts';

export type { ForwardOptions, Model, ModelName, ParamSpec } from './types.ts';
export type { Activation, GraphNode, GraphOp, ModelGraph } from './graph.ts';
export { nodeInputs, nodeParams } from './graph.ts';
export { graphModel, checkGraph, GraphError } from './graph-model.ts';
export { updateRunningStats } from './layers.ts';

const BUILDERS: Record<BuiltinModel, (inputShape: [number, number, number], numClasses: number) => Model> = {
  cnn5,
  mlp,
  resnet20,
  'vgg-small': vggSmall,
};

export function buildModel(name: ModelName, inputShape: [number, number, number], numClasses: number): Model {
  const build = Object.hasOwn(BUILDERS, name) ? BUILDERS[name as BuiltinModel] : undefined;
  if (!build) throw new Error(`unknown model "${String(name)}"`);
  return build(inputShape, numClasses);
}

/** Params SGD trains (all but BatchNorm's running averages). */
export function trainableParamCount(model: Model): number {
  return model.params.reduce((s, p) => s + (p.kind === 'state' ? 0 : p.shape.reduce((a, b) => a * b, 1)), 0);
}

export function paramCount(model: Model): number {
  return model.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Initial weights from the project's Rng (never TF.js's generator, so runs reproduce and resume): He-normal kernels
 * (std sqrt(2/fanIn)), except the output layer (std sqrt(1/fanIn)); other params their constant `init` (default 0).
 */
export function initWeights(model: Model, rng: Rng): Float32Array[] {
  const lastKernel = model.params.map((p) => p.kind).lastIndexOf('kernel');
  return model.params.map((p, i) => {
    const values = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    if (p.kind !== 'kernel') return values.fill(p.init ?? 0);
    const std = Math.sqrt((i === lastKernel ? 1 : 2) / p.fanIn);
    for (let j = 0; j < values.length; j++) values[j] = rng.normal() * std;
    return values;
  });
}
