import type { Rng } from '../random.ts';
import { cnn5 } from './cnn5.ts';
import { mlp } from './mlp.ts';
import type { Model, ModelName } from './types.ts';

export type { Model, ModelName, ParamSpec } from './types.ts';

export function buildModel(name: ModelName, inputShape: [number, number, number], numClasses: number): Model {
  return name === 'cnn5' ? cnn5(inputShape, numClasses) : mlp(inputShape, numClasses);
}

export function paramCount(model: Model): number {
  return model.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Initial weights from the project's Rng (never TF.js's generator, so runs reproduce and resume): He-normal kernels
 * (std sqrt(2/fanIn)), except the output layer (std sqrt(1/fanIn)), zero biases.
 */
export function initWeights(model: Model, rng: Rng): Float32Array[] {
  const lastKernel = model.params.map((p) => p.kind).lastIndexOf('kernel');
  return model.params.map((p, i) => {
    const values = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    if (p.kind === 'bias') return values;
    const std = Math.sqrt((i === lastKernel ? 1 : 2) / p.fanIn);
    for (let j = 0; j < values.length; j++) values[j] = rng.normal() * std;
    return values;
  });
}
