import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  IdParams,
  ImportConflictError,
  ImportQuery,
  ImportResult,
  Problem,
  RetryAccepted,
  SweepExport,
  SweepRetryResult,
  deleteRun,
  deleteSweep,
  exportSweep,
  importSweep,
  isRetryable,
  linkRetriesInSweep,
  newId,
  retryLinks,
  startRetention,
  type RunDocument,
  newRunDocument,
} from '@quantlab/shared';
import { HttpProblem } from '../problem.ts';
import { enqueueRuns, readRun, runLinks } from '../runs.ts';

const errors = { 400: Problem, 401: Problem, 404: Problem };
/** An export carries every artifact in base64; a cnn5 float32 model is about 0.8 MB of it. */
export const IMPORT_BODY_LIMIT = 256 * 1024 * 1024;

/**
 * Run lifecycle (issue 9): delete runs and sweeps, retry failed or cancelled runs, export and import sweeps, and
 * RETENTION_DAYS (an hourly round in every API process; deletion is idempotent, so several processes may run it).
 */
const lifecycle: FastifyPluginAsyncZod<{ retentionEveryMs?: number }> = async (app, opts) => {
  const ctx = app.ql;

  if (ctx.env.RETENTION_DAYS) {
    const days = ctx.env.RETENTION_DAYS;
    let retention: { stop(): Promise<void> } | null = null;
    app.addHook('onReady', async () => {
      retention = startRetention(ctx, {
        days,
        everyMs: opts.retentionEveryMs,
        onResult: (r) => r.removed.length && app.log.info({ removed: r.removed.length, sweeps: r.removedSweeps.length, kept: r.kept.length }, 'retention'),
        onError: (err) => app.log.warn({ err: err.message }, 'retention round failed'),
      });
    });
    app.addHook('onClose', async () => retention?.stop());
  }

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
        response: { 202: RetryAccepted, ...errors, 409: Problem, 503: Problem },
      },
    },
    async (request, reply) => {
      const old = await readRun(ctx, request.params.id);
      if (!isRetryable(old)) throw new HttpProblem('conflict', `run ${old.id} is ${old.status}; only a failed or cancelled run can be retried`);
      const [doc] = await retry([old]);
      reply.code(202).header('location', `/experiments/${doc.id}`);
      return { id: doc.id, status: doc.status, retryOf: old.id, links: { ...runLinks(doc.id), retryOf: `/experiments/${old.id}` } };
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
        response: { 202: SweepRetryResult, ...errors, 503: Problem },
      },
    },
    async (request, reply) => {
      const rec = await ctx.sweeps.get(request.params.id);
      if (!rec) throw new HttpProblem('not-found', `no sweep with id ${request.params.id}`);
      const olds = (await ctx.runs.getMany(rec.runIds)).filter(isRetryable);
      const docs = await retry(olds);
      reply.code(202);
      return { id: rec.id, runs: docs.map((d) => ({ id: d.id, retryOf: d.retryOf! })) };
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
      bodyLimit: IMPORT_BODY_LIMIT,
      schema: {
        operationId: 'importSweep',
        summary: 'Import an exported sweep',
        description:
          'Recreates the sweep and its runs with their statuses, epochs and artifacts; nothing is queued (a run exported while queued or running arrives cancelled, with a note). `ids=new` (default) gives fresh ids; `ids=same` keeps them and answers 409 if one is taken.',
        tags: ['sweeps'],
        querystring: ImportQuery,
        body: SweepExport,
        response: { 201: ImportResult, ...errors, 409: Problem, 413: Problem },
      },
    },
    async (request, reply) => {
      try {
        const r = await importSweep(ctx, request.body, { ids: request.query.ids });
        reply.code(201).header('location', r.links.self);
        return r;
      } catch (err) {
        if (err instanceof ImportConflictError) throw new HttpProblem('conflict', err.message);
        throw err;
      }
    },
  );

  /** Queues a new attempt of each run (same config; sweep, baseline and retryOf linked) and links them into their sweeps. */
  async function retry(olds: RunDocument[]): Promise<RunDocument[]> {
    if (olds.length === 0) return [];
    const ids = olds.map(() => newId('run'));
    const links = retryLinks(olds, ids);
    // Baselines first: their priority is already the better one, and queue order breaks ties.
    const docs = olds.map((old, i) => ({ ...newRunDocument(old.config, { id: ids[i], sweepId: links[i].sweepId, baselineId: links[i].baselineId }), retryOf: links[i].retryOf }));
    docs.sort((a, b) => Number(!!a.baselineId) - Number(!!b.baselineId));
    await enqueueRuns(ctx, docs);
    const bySweep = new Map<string, [string, string][]>();
    for (const d of docs) if (d.sweepId) bySweep.set(d.sweepId, [...(bySweep.get(d.sweepId) ?? []), [d.retryOf!, d.id]]);
    for (const [sweepId, pairs] of bySweep) await linkRetriesInSweep(ctx, sweepId, pairs);
    return docs;
  }
};

export default lifecycle;
