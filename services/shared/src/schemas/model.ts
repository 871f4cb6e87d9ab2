import { z } from 'zod';
import { LIMITS, MODEL_ID } from './experiment.ts';

/** Uploaded models (POST /models, docs/MODELS.md): request and response shapes. */

export const ModelId = z.string().regex(MODEL_ID, 'an uploaded model id (mdl_…)');
export const ModelIdParams = z.strictObject({ id: ModelId });

/** The JSON upload form: model.json (as an object or its text) and every weight shard concatenated in manifest order. */
export const ModelUploadJson = z.strictObject({
  name: z.string().min(1).max(LIMITS.maxNameLength).optional(),
  modelJson: z.union([z.record(z.string(), z.unknown()), z.string()]).describe('model.json: the object, or its text'),
  weights: z.string().describe('every shard of weightsManifest, concatenated in manifest order, base64'),
});
export type ModelUploadJson = z.infer<typeof ModelUploadJson>;

export const ModelSummary = z.object({
  id: ModelId,
  name: z.string(),
  /** Nodes of the imported graph (after BatchNorm folding; the input and a final softmax not counted). */
  layers: z.number().int(),
  /** Weights (numbers) of the imported graph, BatchNorm's running statistics included. */
  params: z.number().int(),
  inputShape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  /** Width of the output: the dataset must have this many classes. */
  classes: z.number().int(),
  /** A final softmax the source had: training works on the logits before it; exports put it back. */
  outputActivation: z.enum(['softmax']).nullable(),
  /** BatchNormalization layers folded into the layer before them. */
  folded: z.array(z.string()),
  /** Size of the upload (model.json and the weights). */
  bytes: z.number().int(),
  createdAt: z.string(),
});
export type ModelSummary = z.infer<typeof ModelSummary>;

export const ModelList = z.object({ items: z.array(ModelSummary), nextCursor: z.string().nullable() });
export type ModelList = z.infer<typeof ModelList>;
