import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Health, Problem } from '@quantlab/shared';
import { slotsWanted } from '@quantlab/shared/metrics';

/** GET /healthz (open, for load balancers) and GET /metrics (Prometheus text). */
const ops: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.ql;
  const started = Date.now();

  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        operationId: 'getHealth',
        summary: 'Liveness: Redis reachable, queue depth',
        tags: ['operations'],
        security: [],
        // No parameters: a probe that sends some is misconfigured, and hears so.
        querystring: z.strictObject({}),
        response: { 200: Health, 400: Problem, 503: Health },
      },
    },
    async (_request, reply) => {
      const t0 = performance.now();
      let ok = false;
      let latencyMs: number | null = null;
      let queue: Health['queue'] = null;
      // Bounded as a whole (each command is too, by REDIS_COMMAND_TIMEOUT_MS): a hung Redis is a 503, never a hang.
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('health check timed out')), ctx.env.REDIS_COMMAND_TIMEOUT_MS)));
      try {
        await Promise.race([
          (async () => {
            ok = (await ctx.redis.ping()) === 'PONG';
            latencyMs = Math.round((performance.now() - t0) * 100) / 100;
            const c = await ctx.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
            queue = { waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, prioritized: c.prioritized ?? 0, slotsWanted: slotsWanted(c) };
          })(),
          deadline,
        ]);
      } catch {
        ok = false;
        queue = null;
      } finally {
        clearTimeout(timer);
      }
      reply.code(ok ? 200 : 503);
      return { status: ok ? ('ok' as const) : ('degraded' as const), redis: { ok, latencyMs }, queue, uptimeSec: Math.round((Date.now() - started) / 1000) };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        description: 'Queue depth by state, runs by status, HTTP latency, Redis command latency and the process metrics (prom-client). Training metrics (epochs, images/s) come from each worker on its METRICS_PORT.',
        tags: ['operations'],
        response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: z.string() } } }, 401: Problem },
      },
    },
    async (_request, reply) => reply.type(app.metrics.contentType).send(await app.metrics.render()),
  );
};

export default ops;
