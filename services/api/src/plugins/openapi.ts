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

const zodComponents = createJsonSchemaTransformObject({ schemaRegistry: components });

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
        license: { name: 'MIT', identifier: 'MIT' },
        version: opts.version,
        description: 'Queue CNN training runs with compact weight representations (fixed point, dictionary) and compare them with float32. Errors are application/problem+json (docs/API.md).',
      },
      // Relative: the document describes the server that serves it, wherever that is.
      servers: [{ url: '/', description: 'the server that serves this document' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API_TOKEN, when the server sets one' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'experiments', description: 'Single runs' },
        { name: 'sweeps', description: 'Grids of runs with a float32 baseline per seed' },
        { name: 'operations', description: 'Health, metrics, workers' },
      ],
    },
    transform: createJsonSchemaTransform({ skipList: UI_ROUTES, schemaRegistry: components }),
    transformObject: (doc) => compactComponents(zodComponents(doc) as OpenApiDocument) as ReturnType<typeof zodComponents>,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
});

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface OpenApiDocument {
  paths?: Record<string, Json>;
  components?: { schemas?: Record<string, Json> } & Record<string, unknown>;
  [k: string]: unknown;
}

const REF = '#/components/schemas/';
const INPUT = /Input$/;

function mapRefs(v: Json, f: (name: string) => string): Json {
  if (Array.isArray(v)) return v.map((x) => mapRefs(x, f));
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === '$ref' && typeof x === 'string' && x.startsWith(REF) ? REF + f(x.slice(REF.length)) : mapRefs(x, f)]));
}

function refsIn(v: Json, out: Set<string>): Set<string> {
  if (Array.isArray(v)) v.forEach((x) => refsIn(x, out));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && x.startsWith(REF)) out.add(x.slice(REF.length));
      else refsIn(x, out);
    }
  return out;
}

/**
 * fastify-type-provider-zod emits every named schema twice, as read (`X`) and as written (`XInput`, where defaults
 * make fields optional). Where the two come out the same, the document keeps one; then it drops the components no
 * operation reaches, so a client generated from it has one type per shape and nothing unused.
 */
export function compactComponents(doc: OpenApiDocument): OpenApiDocument {
  const schemas = { ...(doc.components?.schemas ?? {}) };
  const merged = new Set<string>();
  const rename = (n: string) => (merged.has(n) ? n.replace(INPUT, '') : n);
  // A pair is the same shape once the pairs it refers to are: repeat until no more pairs merge.
  for (let changed = true; changed; ) {
    changed = false;
    for (const name of Object.keys(schemas)) {
      const out = name.replace(INPUT, '');
      if (name === out || merged.has(name) || !(out in schemas)) continue;
      if (JSON.stringify(mapRefs(schemas[name], rename)) === JSON.stringify(mapRefs(schemas[out], rename))) {
        merged.add(name);
        changed = true;
      }
    }
  }
  for (const name of merged) delete schemas[name];
  const paths = mapRefs((doc.paths ?? {}) as Json, rename) as Record<string, Json>;
  for (const [k, v] of Object.entries(schemas)) schemas[k] = mapRefs(v, rename);
  // Keep what the paths reach, directly or through other components.
  const reached = refsIn(paths as Json, new Set());
  const todo = [...reached];
  while (todo.length) {
    for (const r of refsIn(schemas[todo.pop()!] ?? null, new Set())) {
      if (!reached.has(r)) todo.push(r);
      reached.add(r);
    }
  }
  // A request-only shape (no response uses its read form) takes the plain name.
  const alone = (n: string) => INPUT.test(n) && !reached.has(n.replace(INPUT, ''));
  const plain = (n: string) => (alone(n) ? n.replace(INPUT, '') : n);
  const kept = Object.fromEntries(
    Object.entries(schemas)
      .filter(([k]) => reached.has(k))
      .map(([k, v]) => [plain(k), mapRefs(v, plain)] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return { ...doc, paths: mapRefs(paths as Json, plain) as Record<string, Json>, components: { ...doc.components, schemas: kept } };
}
