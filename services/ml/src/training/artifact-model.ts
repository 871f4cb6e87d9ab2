/**
 * A packed artifact is a whole model: the compact weights plus meta (model, dataset, input shape, classes,
 * normalization, test subset). restoreModel rebuilds the network from the bytes alone; evaluateArtifact reports
 * the accuracy the run reported (`quantlab eval`).
 */
import { isUploadedModel, MODELS, type ExperimentConfig } from '@quantlab/shared';
import { decodeArtifact, type DecodedArtifact } from '../artifact/index.ts';
import { loadDataset, prepareDataset, type DatasetName, type Normalization, type PreparedDataset } from '../datasets/index.ts';
import { buildModel, graphModel, type Model, type ModelGraph, type ModelName, type ParamSpec } from '../models/index.ts';
import { evaluateSplit, weightTensors } from './evaluate.ts';
import { RunInputError } from './types.ts';

export interface ArtifactMeta {
  model: ModelName;
  dataset: DatasetName;
  inputShape: [number, number, number];
  numClasses: number;
  normalization: Normalization;
  phase: ExperimentConfig['phase'];
  quantizeBiases: boolean;
  trainLimit: number | null;
  testLimit: number | null;
  trainLoss: number | null;
  /** Test accuracy of the decoded weights on the run's test subset. */
  testAccuracy?: number;
  /** An uploaded model's computation and params (model is its id), so the artifact alone rebuilds it. */
  graph?: ModelGraph;
  params?: ParamSpec[];
}

export interface RestoredModel {
  model: Model;
  /** In the model's param order, decoded to float32. */
  weights: Float32Array[];
  meta: ArtifactMeta;
  artifact: DecodedArtifact;
}

export function restoreModel(bytes: Uint8Array): RestoredModel {
  let artifact: DecodedArtifact;
  try {
    artifact = decodeArtifact(bytes);
  } catch (e) {
    throw new RunInputError(`artifact: ${(e as Error).message}`);
  }
  const meta = artifact.meta as unknown as ArtifactMeta;
  const known = meta && ((MODELS as readonly string[]).includes(meta.model) || (isUploadedModel(meta.model) && meta.graph && Array.isArray(meta.params)));
  if (!meta || !known || !Array.isArray(meta.inputShape) || typeof meta.numClasses !== 'number' || !meta.normalization) {
    throw new RunInputError('artifact: its meta does not describe a quantlab model (model, inputShape, numClasses, normalization; an uploaded model also its graph and params)');
  }
  let model: Model;
  try {
    model = meta.graph ? graphModel(meta.graph, meta.params!, meta.numClasses, meta.model) : buildModel(meta.model, meta.inputShape, meta.numClasses);
  } catch (e) {
    throw new RunInputError(`artifact: its model cannot be built: ${(e as Error).message}`);
  }
  const byName = new Map(artifact.layers.map((l) => [l.name, l]));
  const weights = model.params.map((p) => {
    const layer = byName.get(p.name);
    if (!layer) throw new RunInputError(`artifact: layer ${p.name} of ${meta.model} is missing`);
    if (layer.shape.join() !== p.shape.join()) throw new RunInputError(`artifact: layer ${p.name} has shape [${layer.shape}], expected [${p.shape}]`);
    return layer.values;
  });
  return { model, weights, meta, artifact };
}

/** Accuracy of restored weights on a prepared dataset's test split, normalized as in training. */
export function evaluateWeights(model: Model, weights: readonly Float32Array[], data: PreparedDataset, norm: Normalization, hits?: Uint8Array): number {
  const tensors = weightTensors(model, weights);
  try {
    return evaluateSplit(model, tensors, data.test, norm, hits);
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/**
 * Test accuracy of an artifact on `dataset` (default: the one it was trained on), over the run's test subset unless
 * `testLimit` says otherwise. The caller initializes the backend.
 */
export async function evaluateArtifact(
  bytes: Uint8Array,
  dataset?: DatasetName,
  opts: { dataDir?: string; testLimit?: number } = {},
): Promise<{ testAccuracy: number; test: number; meta: ArtifactMeta; representation: DecodedArtifact['representation'] }> {
  const restored = restoreModel(bytes);
  const name = dataset ?? restored.meta.dataset;
  const raw = await loadDataset(name, opts.dataDir ?? './data');
  if (raw.shape.join() !== restored.meta.inputShape.join() || raw.numClasses !== restored.meta.numClasses) {
    throw new RunInputError(`artifact: its model takes ${restored.meta.inputShape.join('x')} inputs and ${restored.meta.numClasses} classes; ${name} has ${raw.shape.join('x')} and ${raw.numClasses}`);
  }
  const testLimit = opts.testLimit ?? restored.meta.testLimit ?? undefined;
  const data = prepareDataset(raw, { trainLimit: 1, testLimit });
  const testAccuracy = evaluateWeights(restored.model, restored.weights, data, restored.meta.normalization);
  return { testAccuracy, test: data.test.count, meta: restored.meta, representation: restored.artifact.representation };
}
