import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';

/** Upper bounds (seconds) of the HTTP latency histogram's buckets. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series {
  counts: number[];
  sum: number;
  count: number;
}

/** An in-process Prometheus histogram of request latency by method, route pattern and status code. */
export class LatencyHistogram {
  private readonly series = new Map<string, Series>();

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `method="${method}",route="${route.replace(/["\\\n]/g, '_')}",status="${status}"`;
    let s = this.series.get(key);
    if (!s) {
      s = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) s.counts[i]++;
    s.sum += seconds;
    s.count++;
  }

  render(name: string): string {
    const lines = [`# HELP ${name} HTTP request latency.`, `# TYPE ${name} histogram`];
    for (const [labels, s] of this.series) {
      BUCKETS.forEach((b, i) => lines.push(`${name}_bucket{${labels},le="${b}"} ${s.counts[i]}`));
      lines.push(`${name}_bucket{${labels},le="+Inf"} ${s.count}`, `${name}_sum{${labels}} ${s.sum}`, `${name}_count{${labels}} ${s.count}`);
    }
    return lines.join('\n');
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    latency: LatencyHistogram;
  }
}

export default fp(async function metrics(app: FastifyInstance) {
  app.decorate('latency', new LatencyHistogram());
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL: one series per endpoint, whatever the ids.
    app.latency.observe(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
});
