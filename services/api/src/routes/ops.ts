import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Health, Problem, RUN_STATUSES } from '@quantlab/shared';

/** GET /healthz (open, for load balancers) and GET /metrics (Prometheus text). */
const ops: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.ql;
  const started = Date.now();

  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: { summary: 'Liveness: Redis reachable, queue depth', tags: ['operations'], security: [], response: { 200: Health, 503: Health } },
    },
    async (_request, reply) => {
      const t0 = performance.now();
      let ok = false;
      let latencyMs: number | null = null;
      let queue: Health['queue'] = null;
      try {
        ok = (await ctx.redis.ping()) === 'PONG';
        latencyMs = Math.round((performance.now() - t0) * 100) / 100;
        const c = await ctx.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        queue = { waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, prioritized: c.prioritized ?? 0 };
      } catch {
        ok = false;
      }
      reply.code(ok ? 200 : 503);
      return { status: ok ? ('ok' as const) : ('degraded' as const), redis: { ok, latencyMs }, queue, uptimeSec: Math.round((Date.now() - started) / 1000) };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        description: 'Queue depth by state, runs by status, HTTP latency histogram, training images/s of running runs.',
        tags: ['operations'],
        response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: z.string() } } }, 401: Problem },
      },
    },
    async (_request, reply) => {
      const counts = await ctx.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
      const { byStatus, imagesPerSec } = await ctx.runs.stats();
      const lines = ['# HELP quantlab_queue_jobs Jobs in the run queue by state.', '# TYPE quantlab_queue_jobs gauge'];
      for (const [state, n] of Object.entries(counts)) lines.push(`quantlab_queue_jobs{state="${state}"} ${n ?? 0}`);
      lines.push('# HELP quantlab_runs Runs by status.', '# TYPE quantlab_runs gauge');
      for (const s of RUN_STATUSES) lines.push(`quantlab_runs{status="${s}"} ${byStatus[s]}`);
      lines.push('# HELP quantlab_training_images_per_second Training throughput of the running runs (latest epoch), summed.', '# TYPE quantlab_training_images_per_second gauge');
      lines.push(`quantlab_training_images_per_second ${imagesPerSec}`);
      lines.push(app.latency.render('quantlab_http_request_duration_seconds'));
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(lines.join('\n') + '\n');
    },
  );

};

export default ops;
