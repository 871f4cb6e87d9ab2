import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ExperimentConfig,
  Problem,
  Representation,
  RunDocument,
  RunList,
  SweepAccepted,
  SweepDocument,
  SweepList,
  SweepRequest,
  PresetInfo,
  WorkerInfo,
  ExperimentAccepted,
} from '@quantlab/shared';

/**
 * The shared zod schemas that appear as named components of the OpenAPI document. A registry of our own (not zod's
 * global one) so building several apps in one process (tests) registers them once.
 */
const components = z.registry<{ id: string }>();
for (const [id, schema] of Object.entries({
  ExperimentConfig,
  Representation,
  RunDocument,
  RunList,
  Problem,
  ExperimentAccepted,
  SweepRequest,
  SweepAccepted,
  SweepDocument,
  SweepList,
  PresetInfo,
  WorkerInfo,
})) {
  components.add(schema as z.ZodType, { id });
}

const UI_ROUTES = ['/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/*', '/docs/initOAuth', '/docs/uiConfig', '/docs/*'];

/** The OpenAPI 3.1 document generated from the routes' zod schemas, at /openapi.json, browsable at /docs. */
declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after this plugin (method, url, hidden from the document or not): tests check the document lists them. */
    routeTable: { method: string; url: string; hidden: boolean }[];
  }
}

export default fp(async function openapi(app: FastifyInstance, opts: { version: string }) {
  const table: FastifyInstance['routeTable'] = [];
  app.decorate('routeTable', table);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) {
      // A getter: onRoute hooks of the route's own scope (registered later) may still hide it.
      if (method !== 'HEAD') {
        table.push({
          method,
          url: r.url,
          get hidden() {
            return Boolean((r.schema as { hide?: boolean } | undefined)?.hide) || UI_ROUTES.includes(r.url) || r.url.startsWith('/docs');
          },
        });
      }
    }
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'quantlab API',
        version: opts.version,
        description: 'Queue CNN training runs with compact weight representations (fixed point, dictionary) and compare them with float32. Errors are application/problem+json (docs/API.md).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API_TOKEN, when the server sets one' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'experiments', description: 'Single runs' },
        { name: 'sweeps', description: 'Grids of runs with a float32 baseline per seed' },
        { name: 'operations', description: 'Health, metrics, workers' },
      ],
    },
    transform: createJsonSchemaTransform({ skipList: UI_ROUTES, schemaRegistry: components }),
    transformObject: createJsonSchemaTransformObject({ schemaRegistry: components }),
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
});
