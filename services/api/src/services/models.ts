/**
 * Uploaded models (issue 16): import and store a TF.js Layers model, list, read and delete them, and check the runs
 * that use one at submission (the model exists, its input and classes fit the dataset, `init` fits the model).
 */
import {
  BUILTIN_DATASET_SHAPES,
  isBuiltinDataset,
  isUploadedModel,
  newId,
  summaryOf,
  type ModelSummary,
  type RunDocument,
  type StoredModel,
} from '@quantlab/shared';
import { checkModelJson, importLayersModel, ModelImportError, parseModelJson, type WeightBytes } from '@quantlab/shared/models/tfjs-layers';
import { HttpProblem } from '../problem.ts';
import type { ServiceDeps } from './deps.ts';

export interface ModelUpload {
  name?: string;
  /** model.json: its text, or the object the JSON form carried. */
  modelJson: string | Record<string, unknown>;
  weights: WeightBytes;
  /** The upload's size (what MODEL_MAX_BYTES bounds). */
  bytes: number;
}

const importProblem = (e: ModelImportError) => new HttpProblem(e.status === 400 ? 'bad-request' : 'model-invalid', e.message);

/** Reads model.json alone (the multipart form needs its manifest to know which parts are shards). */
export function readModelJson(text: string) {
  try {
    return parseModelJson(text);
  } catch (e) {
    throw e instanceof ModelImportError ? importProblem(e) : e;
  }
}

/** Imports, checks and stores a model (all or nothing); 400 / 422 naming what is wrong, before anything is written. */
export async function uploadModel(deps: ServiceDeps, up: ModelUpload): Promise<ModelSummary> {
  let imported;
  try {
    const json = typeof up.modelJson === 'string' ? parseModelJson(up.modelJson) : checkModelJson(up.modelJson);
    imported = importLayersModel(json, up.weights);
  } catch (e) {
    throw e instanceof ModelImportError ? importProblem(e) : e;
  }
  const { graph, params, weights, numClasses, folded } = imported;
  const record: StoredModel = {
    id: newId('mdl'),
    name: up.name ?? 'model',
    layers: graph.nodes.length,
    params: params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0),
    inputShape: graph.input.shape,
    classes: numClasses,
    outputActivation: graph.outputActivation ?? null,
    folded,
    bytes: up.bytes,
    createdAt: new Date().toISOString(),
    graph,
    paramSpecs: params,
  };
  await deps.models.create(record, weights);
  return summaryOf(record);
}

export async function listModels(deps: ServiceDeps, q: { limit: number; cursor?: string }) {
  try {
    return await deps.models.list(q.limit, q.cursor ?? null);
  } catch (e) {
    if (e instanceof RangeError) throw new HttpProblem('validation', e.message, [{ path: ['cursor'], message: e.message }]);
    throw e;
  }
}

export async function readModel(deps: ServiceDeps, id: string): Promise<ModelSummary> {
  const m = await deps.models.get(id);
  if (!m) throw new HttpProblem('not-found', `no model with id ${id}`);
  return summaryOf(m);
}

const PAGE = 500;

/** Queued or running runs whose config uses the model. */
async function unfinishedRunsUsing(deps: ServiceDeps, id: string): Promise<string[]> {
  const users: string[] = [];
  for (const status of ['queued', 'running'] as const) {
    for (let offset = 0; ; offset += PAGE) {
      const page = await deps.runs.idsByStatusCreatedBefore(status, Number.MAX_SAFE_INTEGER, offset, PAGE);
      const configs = await deps.runs.fields(
        page.map((p) => p.id),
        ['config'],
      );
      configs.forEach((f, i) => f?.config?.model === id && users.push(page[i].id));
      if (page.length < PAGE) break;
    }
  }
  return users;
}

/**
 * Deletes a model unless a queued or running run uses it (409 naming them). Finished runs keep their artifacts, which
 * hold everything needed to evaluate them. A run submitted while the delete happens fails at its worker ("model …
 * does not exist"), never trains something else.
 */
export async function deleteModel(deps: ServiceDeps, id: string): Promise<void> {
  if (!(await deps.models.get(id))) throw new HttpProblem('not-found', `no model with id ${id}`);
  const users = await unfinishedRunsUsing(deps, id);
  if (users.length) {
    const shown = users.slice(0, 5).join(', ');
    throw new HttpProblem('conflict', `model ${id} is used by ${users.length} queued or running run(s) (${shown}${users.length > 5 ? ', …' : ''}); cancel or delete them first`);
  }
  await deps.models.delete(id);
}

/**
 * At submission: an uploaded model must exist and fit the dataset (input shape and classes, for the built-in datasets;
 * a user dataset's shape is only known to the worker, which fails the run with both shapes), and `init: "pretrained"`
 * needs an uploaded model. 422 naming both sides.
 */
export async function checkModels(deps: ServiceDeps, docs: readonly RunDocument[]): Promise<void> {
  const cache = new Map<string, Promise<StoredModel | null>>();
  for (const { config } of docs) {
    if (!isUploadedModel(config.model)) {
      if (config.init === 'pretrained') {
        throw new HttpProblem('model-invalid', `init "pretrained" needs an uploaded model (mdl_…); ${config.model} is built in and starts from random weights`, [{ path: ['init'], message: 'pretrained needs an uploaded model' }]);
      }
      continue;
    }
    if (!cache.has(config.model)) cache.set(config.model, deps.models.get(config.model));
    const m = await cache.get(config.model)!;
    if (!m) throw new HttpProblem('model-invalid', `no model with id ${config.model} (upload it with POST /models)`, [{ path: ['model'], message: 'no such model' }]);
    if (!isBuiltinDataset(config.dataset)) continue;
    const d = BUILTIN_DATASET_SHAPES[config.dataset as keyof typeof BUILTIN_DATASET_SHAPES];
    if (d.shape.join() !== m.inputShape.join()) {
      throw new HttpProblem('model-invalid', `model ${m.id} takes inputs of shape [${m.inputShape.join(', ')}]; dataset ${config.dataset} has images of shape [${d.shape.join(', ')}]`, [
        { path: ['model'], message: 'input shape does not match the dataset' },
      ]);
    }
    if (d.classes !== m.classes) {
      throw new HttpProblem('model-invalid', `model ${m.id} has ${m.classes} outputs; dataset ${config.dataset} has ${d.classes} classes`, [{ path: ['model'], message: 'classes do not match the dataset' }]);
    }
  }
}
