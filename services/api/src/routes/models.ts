import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import { ModelIdParams, ModelList, ModelSummary, ModelUploadJson, PageQuery, Problem } from '@quantlab/shared';
import { HttpProblem } from '../problem.ts';
import { deleteModel, listModels, readModel, uploadModel, type ModelUpload } from '../services/models.ts';

const errors = { 400: Problem, 401: Problem, 404: Problem };
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Uploaded models (docs/MODELS.md): a TF.js Layers model in, used by experiments and sweeps as `model: "mdl_…"`. */
const models: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.ql;
  const max = ctx.env.MODEL_MAX_BYTES;
  // Registered here only: no other route accepts multipart bodies.
  await app.register(multipart, { limits: { fileSize: max, fieldSize: max, parts: 10_000 } });

  const tooLarge = () => new HttpProblem('payload-too-large', `the model upload is over MODEL_MAX_BYTES = ${max} bytes`);

  /** The multipart form: a part named model.json and one file part per shard, named as in weightsManifest. */
  async function readMultipart(request: FastifyRequest): Promise<ModelUpload> {
    if (Number(request.headers['content-length'] ?? 0) > max) throw tooLarge();
    let modelJson: string | undefined;
    let name: string | undefined;
    const files = new Map<string, Uint8Array>();
    // Every part counts toward the limit; `bytes` is model.json and the shards (as in the JSON form).
    let received = 0;
    let bytes = 0;
    try {
      for await (const part of request.parts()) {
        let value: Buffer;
        if (part.type === 'file') value = await part.toBuffer();
        else value = Buffer.from(String(part.value));
        received += value.length;
        if (received > max) throw tooLarge();
        if (part.fieldname === 'model.json' || (part.type === 'file' && part.filename === 'model.json')) {
          if (modelJson !== undefined) throw new HttpProblem('bad-request', 'two parts are named model.json');
          modelJson = value.toString('utf8');
          bytes += value.length;
        } else if (part.type === 'field' && part.fieldname === 'name') {
          name = value.toString('utf8');
        } else if (part.type === 'file') {
          if (files.has(part.filename)) throw new HttpProblem('bad-request', `two parts carry the file "${part.filename}"`);
          files.set(part.filename, value);
          bytes += value.length;
        } else throw new HttpProblem('bad-request', `unknown form field "${part.fieldname}" (send model.json, name, and the weight files)`);
      }
    } catch (e) {
      // @fastify/multipart's own limits (a file or field over MODEL_MAX_BYTES, too many parts).
      if ((e as { statusCode?: number }).statusCode === 413) throw tooLarge();
      throw e;
    }
    if (modelJson === undefined) throw new HttpProblem('bad-request', 'the upload has no part named model.json');
    if (name !== undefined && (name.length === 0 || name.length > 200)) throw new HttpProblem('validation', 'name must have 1 to 200 characters');
    return { name, modelJson, weights: { files }, bytes };
  }

  function readJson(body: ModelUploadJson): ModelUpload {
    const text = typeof body.modelJson === 'string' ? body.modelJson : JSON.stringify(body.modelJson);
    if (body.weights.length % 4 !== 0 || !BASE64.test(body.weights)) throw new HttpProblem('bad-request', 'weights is not base64 (every shard of weightsManifest, concatenated in manifest order)');
    const weights = Buffer.from(body.weights, 'base64');
    return { name: body.name, modelJson: body.modelJson, weights: { concatenated: weights }, bytes: Buffer.byteLength(text) + weights.length };
  }

  app.post(
    '/models',
    {
      config: { rateLimit: {} },
      bodyLimit: max,
      schema: {
        operationId: 'uploadModel',
        summary: 'Upload a TF.js Layers model',
        description:
          'model.json and its weight shards as tensorflowjs_converter or TF.js model.save() write them (docs/MODELS.md). Either multipart/form-data with a part named `model.json` and one file part per shard whose filename is its weightsManifest path, or this JSON body. The model is checked completely (400: not JSON, a shard missing or of the wrong size; 422: an unsupported layer, a missing layer or weight, NaN or Inf) and stored whole or not at all. BatchNormalization after a conv or dense layer is folded into it. Over MODEL_MAX_BYTES: 413.',
        tags: ['models'],
        consumes: ['application/json', 'multipart/form-data'],
        // Nullish: a multipart request has no parsed body (readMultipart reads its parts).
        body: ModelUploadJson.nullish(),
        response: { 201: ModelSummary, ...errors, 413: Problem, 415: Problem, 422: Problem, 429: Problem, 507: Problem },
      },
    },
    async (request, reply) => {
      let upload: ModelUpload;
      if (request.isMultipart()) upload = await readMultipart(request);
      else if (request.body) upload = readJson(request.body);
      else throw new HttpProblem('bad-request', 'send model.json and its weights as multipart/form-data or as JSON {name?, modelJson, weights}');
      const summary = await uploadModel(ctx, upload);
      reply.code(201).header('location', `/models/${summary.id}`);
      return summary;
    },
  );

  app.get(
    '/models',
    { schema: { operationId: 'listModels', summary: 'Uploaded models, newest first', tags: ['models'], querystring: PageQuery, response: { 200: ModelList, ...errors } } },
    async (request) => listModels(ctx, request.query),
  );

  app.get(
    '/models/:id',
    { schema: { operationId: 'getModel', summary: 'One uploaded model', tags: ['models'], params: ModelIdParams, response: { 200: ModelSummary, ...errors } } },
    async (request) => readModel(ctx, request.params.id),
  );

  app.delete(
    '/models/:id',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'deleteModel',
        summary: 'Delete an uploaded model',
        description: '409 while a queued or running run uses it. Finished runs keep their artifacts.',
        tags: ['models'],
        params: ModelIdParams,
        response: { 204: z.null().describe('deleted'), ...errors, 409: Problem },
      },
    },
    async (request, reply) => {
      await deleteModel(ctx, request.params.id);
      return reply.code(204).send(null);
    },
  );
};

export default models;
