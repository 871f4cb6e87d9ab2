import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fp from 'fastify-plugin';
import type { FastifyInstance, onSendHookHandler } from 'fastify';
import fastifyStatic from '@fastify/static';
import { refuseOverlongSegment } from './errors.ts';

/** The dashboard's built files (services/dashboard/public: index.html + build/). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../../dashboard/public/', import.meta.url));

/**
 * Serves the dashboard at `/`. Its files are static and open even when API_TOKEN is set: the page asks for the
 * token and sends it with every API call. Registered outside the authenticated scope.
 */
/**
 * The dashboard's pages may only run the dashboard's own scripts and talk to this API, and may not be framed
 * (clickjacking): a page that holds the API token in the browser must not load anything else. Inline style attributes
 * stay allowed (the views and the chart library set them; styles cannot run code), stylesheets from elsewhere do not.
 */
export const DASHBOARD_SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

export default fp(async function dashboard(app: FastifyInstance, opts: { root?: string }) {
  const root = opts.root ?? DASHBOARD_DIR;
  // Only on what the dashboard serves (the API's JSON is not a document a browser renders), as a hook of those routes
  // alone: an app-wide onSend hook would run on every API response.
  const securityHeaders: onSendHookHandler = (_request, reply, payload, done) => {
    reply.headers(DASHBOARD_SECURITY_HEADERS);
    done(null, payload);
  };
  app.addHook('onRoute', (route) => {
    if (route.url !== '/' && route.url !== '/*') return;
    route.onSend = [...(route.onSend === undefined ? [] : [route.onSend].flat()), securityHeaders];
    if (route.url === '/*') route.onRequest = [...(route.onRequest === undefined ? [] : [route.onRequest].flat()), refuseOverlongSegment];
  });
  if (!existsSync(`${root}/index.html`)) {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/plain; charset=utf-8').send('quantlab API: the dashboard is not built (npm run build:dashboard). API documentation: /docs\n'),
    );
    return;
  }
  await app.register(fastifyStatic, { root, prefix: '/', index: ['index.html'], cacheControl: true, maxAge: 0 });
});
