import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { RUN_STATUSES } from '@quantlab/shared';
import { createProcessMetrics, HotHistogram, type ProcessMetrics } from '@quantlab/shared/metrics';

/** Upper bounds (seconds) of the HTTP latency histogram's buckets. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ProcessMetrics;
  }
}

/**
 * The API's Prometheus registry: the shared process metrics (defaults, queue depth, Redis latency), HTTP latency by
 * route pattern, runs by status and the running runs' images/s (one Redis round trip per scrape, from the run
 * store's indexes). GET /metrics (routes/ops.ts) renders it.
 */
export default fp(async function metrics(app: FastifyInstance) {
  const ctx = app.ql;
  const m = createProcessMetrics(ctx.queue);
  m.instrumentRedis(ctx.redis);
  const http = new HotHistogram('quantlab_http_request_duration_seconds', 'HTTP request latency by method, route pattern and status code.', ['method', 'route', 'status'], BUCKETS, m.registry);
  // Runs by status come from the run store's status indexes: one round trip per scrape, whatever the number of runs.
  // (Training throughput is the workers' own images/s histogram, by backend.)
  new Gauge({
    name: 'quantlab_runs',
    help: 'Runs by status (from the run store’s status indexes).',
    labelNames: ['status'] as const,
    registers: [m.registry],
    async collect() {
      try {
        const byStatus = await ctx.runs.countByStatus();
        for (const status of RUN_STATUSES) this.set({ status }, byStatus[status]);
      } catch {
        this.reset();
      }
    },
  });
  app.decorate('metrics', m);

  // Every route's success series exists from the start (zero-filled), so rates and quantiles have a series to read.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const codes = Object.keys((route.schema?.response as Record<string, unknown> | undefined) ?? {});
    const status = codes.find((c) => /^2\d\d$/.test(c)) ?? '200';
    for (const method of methods) if (method !== 'HEAD') http.series(method, route.url, status);
  });
  // Callback style: an async hook costs a promise and a microtask on every request.
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, not the URL: one series per endpoint, whatever the ids.
    http.series(request.method, request.routeOptions.url ?? 'unmatched', String(reply.statusCode)).observe(reply.elapsedTime / 1000);
    done();
  });
});
