import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CancelResult, ExperimentAccepted, ExperimentConfig, FINAL_STATUSES, IdParams, newId, Problem, RunDocument, RunList, RunListQuery, type RunStatus, newRunDocument } from '@quantlab/shared';
import { idempotent } from '../idempotency.ts';
import { HttpProblem } from '../problem.ts';
import { cancelRun, enqueueRuns, readRun, readRuns, runLinks } from '../runs.ts';

const errors = { 400: Problem, 401: Problem, 404: Problem };
/** Runs examined per list request at most, so a filter matching nothing cannot make one request read everything. */
const MAX_SCAN = 5_000;

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
        response: { 202: ExperimentAccepted, ...errors, 413: Problem, 422: Problem, 429: Problem, 503: Problem },
      },
    },
    async (request, reply) => {
      const id = newId('run');
      const body = { id, status: 'queued' as const, links: runLinks(id) };
      reply.header('location', body.links.self);
      return idempotent(ctx, request, reply, 'experiments', { status: 202, body }, () => enqueueRuns(ctx, [newRunDocument(request.body, { id })]));
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
    async (request) => {
      const q = request.query;
      const filtered = q.status || q.sweep || q.dataset || q.kind;
      let cursor = q.cursor ?? null;
      const found: string[] = [];
      let scanned = 0;
      let sweepIds: string[] | undefined;
      for (;;) {
        const page = await listPage({ limit: filtered ? Math.max(q.limit, 200) : q.limit, cursor }).catch((err: Error) => {
          throw err instanceof RangeError ? new HttpProblem('validation', err.message, [{ path: ['cursor'], message: err.message }]) : err;
        });
        const matches = filtered ? await filterIds(page.ids, q) : page.ids;
        scanned += page.ids.length;
        for (let i = 0; i < matches.length && found.length < q.limit; i++) found.push(matches[i]);
        if (found.length >= q.limit) {
          // The cursor names the last run returned: the next page starts right after it.
          const last = found[found.length - 1];
          const more = page.nextCursor !== null || page.ids.indexOf(last) < page.ids.length - 1;
          return { items: await readRuns(ctx, found), nextCursor: more ? Buffer.from(last).toString('base64url') : null };
        }
        if (!page.nextCursor) return { items: await readRuns(ctx, found), nextCursor: null };
        cursor = page.nextCursor;
        if (scanned >= MAX_SCAN) return { items: await readRuns(ctx, found), nextCursor: cursor };
      }

      /** Pages of run ids, newest first: a sweep's own list when filtering by sweep, else every run. */
      async function listPage(opts: { limit: number; cursor: string | null }): Promise<{ ids: string[]; nextCursor: string | null }> {
        if (!q.sweep) return ctx.runs.listIds(opts);
        sweepIds ??= [...((await ctx.sweeps.get(q.sweep))?.runIds ?? [])].reverse(); // created in index order
        let start = 0;
        if (opts.cursor) {
          const at = sweepIds.indexOf(Buffer.from(opts.cursor, 'base64url').toString());
          if (at < 0) throw new RangeError('the cursor names a run that is not in this sweep');
          start = at + 1;
        }
        const ids = sweepIds.slice(start, start + opts.limit);
        return { ids, nextCursor: start + opts.limit < sweepIds.length ? Buffer.from(ids[ids.length - 1]).toString('base64url') : null };
      }

      async function filterIds(ids: string[], f: typeof q): Promise<string[]> {
        const p = ctx.redis.pipeline();
        for (const id of ids) p.hmget(ctx.runs.keys.run(id), 'status', 'sweepId', 'config');
        const res = (await p.exec()) ?? [];
        return ids.filter((_id, i) => {
          const [err, vals] = res[i] as [Error | null, (string | null)[]];
          if (err || !vals[0]) return false;
          const status = JSON.parse(vals[0]) as RunStatus;
          const sweepId = vals[1] ? (JSON.parse(vals[1]) as string | null) : null;
          const config = vals[2] ? (JSON.parse(vals[2]) as ExperimentConfig) : null;
          return (!f.status || status === f.status) && (!f.sweep || sweepId === f.sweep) && (!f.dataset || config?.dataset === f.dataset) && (!f.kind || config?.representation.kind === f.kind);
        });
      }
    },
  );

  app.get(
    '/experiments/:id',
    { schema: { operationId: 'getExperiment', summary: 'One run document', tags: ['experiments'], params: IdParams, response: { 200: RunDocument, ...errors } } },
    async (request) => readRun(ctx, request.params.id),
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
      const doc = await readRun(ctx, request.params.id);
      if (FINAL_STATUSES.includes(doc.status)) {
        throw new HttpProblem('conflict', `run ${doc.id} has already finished (${doc.status})`);
      }
      const r = await cancelRun(ctx, doc);
      reply.code(r.cancelRequested ? 202 : 200);
      return { id: doc.id, ...r };
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
      const bytes = await ctx.runs.getArtifact(id);
      if (!bytes) {
        const exists = await ctx.runs.exists(id);
        throw new HttpProblem('not-found', exists ? `run ${id} has no artifact (yet)` : `no experiment with id ${id}`);
      }
      return reply
        .type('application/octet-stream')
        .header('content-length', String(bytes.length))
        .header('content-disposition', `attachment; filename="${id}.qlab"`)
        .send(bytes as unknown as File); // a Buffer is sent as is, not serialized
    },
  );
};

export default experiments;
