import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  IdParams,
  ImportQuery,
  ImportResult,
  Problem,
  RetryAccepted,
  SweepExport,
  SweepRetryResult,
} from '@quantlab/shared';
import { HttpProblem } from '../problem.ts';
import { deleteRun, deleteSweep } from '../services/lifecycle/delete.ts';
import { retryRun, retrySweep } from '../services/lifecycle/retry.ts';
import { exportSweep, ImportConflictError, ImportInvalidError, ImportTooLargeError, importSweep } from '../services/lifecycle/transfer.ts';

const errors = { 400: Problem, 401: Problem, 404: Problem };

/**
 * Run lifecycle (issue 9): delete runs and sweeps, retry failed or cancelled runs, export and import sweeps.
 * Retention (RETENTION_DAYS) is a scheduled maintenance job: see maintenance.ts.
 */
const lifecycle: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.ql;

  app.delete(
    '/experiments/:id',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'deleteExperiment',
        summary: 'Delete a run and everything stored for it',
        description:
          'Removes its document, epochs, checkpoint, artifact, index entries, sweep membership and BullMQ job. A queued run never starts; a running run is asked to cancel and, if it has not stopped within a few seconds, cut off (its job lock is deleted, so its worker cannot write again).',
        tags: ['experiments'],
        params: IdParams,
        response: { 204: z.null().describe('deleted'), ...errors },
      },
    },
    async (request, reply) => {
      if (!(await deleteRun(ctx, request.params.id))) throw new HttpProblem('not-found', `no experiment with id ${request.params.id}`);
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/sweeps/:id',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'deleteSweep',
        summary: 'Delete a sweep, all its runs (earlier attempts included) and everything stored for them',
        tags: ['sweeps'],
        params: IdParams,
        response: { 204: z.null().describe('deleted'), ...errors },
      },
    },
    async (request, reply) => {
      if (!(await deleteSweep(ctx, request.params.id))) throw new HttpProblem('not-found', `no sweep with id ${request.params.id}`);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/experiments/:id/retry',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'retryExperiment',
        summary: 'Queue a failed or cancelled run again',
        description: 'A new run with the same config, sweep and baseline; its `retryOf` names the old run. 409 unless the run failed or was cancelled.',
        tags: ['experiments'],
        params: IdParams,
        response: { 202: RetryAccepted, ...errors, 409: Problem, 422: Problem, 503: Problem },
      },
    },
    async (request, reply) => {
      const r = await retryRun(ctx, request.params.id);
      reply.code(202).header('location', r.links.self);
      return r;
    },
  );

  app.post(
    '/sweeps/:id/retry',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'retrySweep',
        summary: 'Queue every failed or cancelled run of a sweep again',
        description: 'Each as a new run linked to the old one (`retryOf`), listed by the sweep in its place; a retried baseline runs first. `runs` is empty when nothing needed a retry.',
        tags: ['sweeps'],
        params: IdParams,
        response: { 202: SweepRetryResult, ...errors, 422: Problem, 503: Problem },
      },
    },
    async (request, reply) => {
      const r = await retrySweep(ctx, request.params.id);
      reply.code(202);
      return r;
    },
  );

  app.get(
    '/sweeps/:id/export',
    {
      schema: {
        operationId: 'exportSweep',
        summary: 'A sweep with its run documents and artifacts, to import elsewhere',
        description: 'What `quantlab export` prints and POST /import reads: the sweep record, every run (earlier attempts included) with its epochs, and each artifact in base64.',
        tags: ['sweeps'],
        params: IdParams,
        response: { 200: SweepExport, ...errors },
      },
    },
    async (request) => {
      const data = await exportSweep(ctx, request.params.id);
      if (!data) throw new HttpProblem('not-found', `no sweep with id ${request.params.id}`);
      return data;
    },
  );

  app.post(
    '/import',
    {
      config: { rateLimit: {} },
      bodyLimit: ctx.env.IMPORT_MAX_BYTES,
      schema: {
        operationId: 'importSweep',
        summary: 'Import an exported sweep',
        description:
          'Recreates the sweep and its runs with their statuses, epochs and artifacts; nothing is queued (a run exported while queued or running arrives cancelled, with a note). `ids=new` (default) gives fresh ids; `ids=same` keeps them and answers 409 if one is taken.',
        tags: ['sweeps'],
        querystring: ImportQuery,
        body: SweepExport,
        response: { 201: ImportResult, ...errors, 409: Problem, 413: Problem, 507: Problem },
      },
    },
    async (request, reply) => {
      try {
        const r = await importSweep(ctx, request.body, { ids: request.query.ids });
        reply.code(201).header('location', r.links.self);
        return r;
      } catch (err) {
        if (err instanceof ImportConflictError) throw new HttpProblem('conflict', err.message);
        if (err instanceof ImportInvalidError) throw new HttpProblem('validation', err.message);
        if (err instanceof ImportTooLargeError) throw new HttpProblem('payload-too-large', `the import is over a limit: ${err.message}`);
        throw err;
      }
    },
  );

};

export default lifecycle;
