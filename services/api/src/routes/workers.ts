import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Problem, WorkerList } from '@quantlab/shared';

/** GET /workers: the live worker processes, from the registry they keep up to date with heartbeats. */
const workers: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.ql;
  app.get(
    '/workers',
    { schema: { operationId: 'listWorkers', summary: 'Live workers', tags: ['operations'], response: { 200: WorkerList, 401: Problem } } },
    async () => ({ items: await ctx.workers.list() }),
  );
};

export default workers;
