import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

/** The dashboard's built files (services/dashboard/public: index.html + build/). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../../dashboard/public/', import.meta.url));

/**
 * Serves the dashboard at `/`. Its files are static and open even when API_TOKEN is set: the page asks for the
 * token and sends it with every API call. Registered outside the authenticated scope.
 */
export default fp(async function dashboard(app: FastifyInstance, opts: { root?: string }) {
  const root = opts.root ?? DASHBOARD_DIR;
  if (!existsSync(`${root}/index.html`)) {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/plain; charset=utf-8').send('quantlab API: the dashboard is not built (npm run build:dashboard). API documentation: /docs\n'),
    );
    return;
  }
  await app.register(fastifyStatic, { root, prefix: '/', index: ['index.html'], cacheControl: true, maxAge: 0 });
});
