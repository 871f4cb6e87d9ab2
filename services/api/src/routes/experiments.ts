import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CancelResult, ExperimentAccepted, ExperimentConfig, ExportQuery, IdParams, newId, newRunDocument, Problem, RunDocument, RunList, RunListQuery } from '@quantlab/shared';
import { idempotent } from '../idempotency.ts';
import { cancelRun, enqueueRuns, listRuns, listRunsJson, readRun, readRunJson, runArtifact, runExport, runLinks } from '../services/experiments.ts';

const errors = { 400: Problem, 401: Problem, 404: Problem };
/** Rendered JSON goes out as it is (a string payload is not serialized again). */
export const JSON_TYPE = 'application/json; charset=utf-8';

const experiments: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.ql;

  app.post(
    '/experiments',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'createExperiment',
        summary: 'Queue one experiment',
        description: 'Stores a queued run with the effective config (defaults filled in), then queues its job. Send an Idempotency-Key header to make retries safe.',
        tags: ['experiments'],
        body: ExperimentConfig,
        headers: z.looseObject({ 'idempotency-key': z.string().max(200).optional() }),
        response: { 202: ExperimentAccepted, ...errors, 409: Problem, 413: Problem, 422: Problem, 429: Problem, 503: Problem, 507: Problem },
      },
    },
    async (request, reply) => {
      const id = newId('run');
      const body = { id, status: 'queued' as const, links: runLinks(id) };
      const out = await idempotent(ctx, request, reply, 'experiments', { status: 202, body }, () => enqueueRuns(ctx, [newRunDocument(request.body, { id })]));
      // From the answer sent (a replay names the run the first request created, not this request's unused id).
      reply.header('location', out.links.self);
      return out;
    },
  );

  app.get(
    '/experiments',
    {
      schema: {
        operationId: 'listExperiments',
        summary: 'List runs, newest first',
        description: 'Filters combine; `nextCursor` fetches the next page.',
        tags: ['experiments'],
        querystring: RunListQuery,
        response: { 200: RunList, ...errors },
      },
    },
    async (request, reply) => (ctx.rawReads ? reply.type(JSON_TYPE).send((await listRunsJson(ctx, request.query)) as never) : listRuns(ctx, request.query)),
  );

  app.get(
    '/experiments/:id',
    { schema: { operationId: 'getExperiment', summary: 'One run document', tags: ['experiments'], params: IdParams, response: { 200: RunDocument, ...errors } } },
    async (request, reply) => (ctx.rawReads ? reply.type(JSON_TYPE).send((await readRunJson(ctx, request.params.id)) as never) : readRun(ctx, request.params.id)),
  );

  app.post(
    '/experiments/:id/cancel',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'cancelExperiment',
        summary: 'Cancel a run',
        description: 'A queued run is cancelled at once (200) and never starts. A running run is asked to stop (202): the worker ends it cancelled at its next batch, keeping its finished epochs. A finished run gives 409.',
        tags: ['experiments'],
        params: IdParams,
        response: { 200: CancelResult, 202: CancelResult, ...errors, 409: Problem },
      },
    },
    async (request, reply) => {
      const r = await cancelRun(ctx, request.params.id);
      reply.code(r.cancelRequested ? 202 : 200);
      return r;
    },
  );

  app.get(
    '/experiments/:id/artifact',
    {
      schema: {
        operationId: 'getArtifact',
        summary: 'Download the packed compact model',
        description: 'The bit-packed weights (docs/ARTIFACT.md), as application/octet-stream with Content-Length.',
        tags: ['experiments'],
        params: IdParams,
        response: { 200: { description: 'the artifact', content: { 'application/octet-stream': { schema: z.file() } } }, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const bytes = await runArtifact(ctx, id);
      return reply
        .type('application/octet-stream')
        .header('content-length', String(bytes.length))
        .header('content-disposition', `attachment; filename="${id}.qlab"`)
        .send(bytes as unknown as File); // a Buffer is sent as is, not serialized
    },
  );

  app.get(
    '/experiments/:id/export',
    {
      schema: {
        operationId: 'exportModel',
        summary: 'Download the run\'s model for another runtime',
        description:
          'The completed run\'s artifact as `format=onnx` (opset 13; compact weights decoded in the graph by DequantizeLinear or Gather), `tfjs` (a zip of a TF.js Layers model.json and its float32 weight shard) or `npz` (codes, codebooks or steps, scales and shapes; a NumPy reader is clients/python/quantlab_client/artifact.py). docs/EXPORT.md. 409 while the run has no artifact.',
        tags: ['experiments'],
        params: IdParams,
        querystring: ExportQuery,
        response: {
          200: { description: 'the exported model', content: { 'application/onnx': { schema: z.file() }, 'application/zip': { schema: z.file() } } },
          ...errors,
          409: Problem,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const out = await runExport(ctx, id, request.query.format);
      return reply
        .type(out.mediaType)
        .header('content-length', String(out.bytes.length))
        .header('content-disposition', `attachment; filename="${out.filename}"`)
        .send(Buffer.from(out.bytes.buffer, out.bytes.byteOffset, out.bytes.byteLength) as unknown as File);
    },
  );
};

export default experiments;
