import { after } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@quantlab/api';
import { testEnv } from './redis.ts';

/**
 * Two apps on one Redis prefix: `raw` answers reads as server.ts does (the store's rendered JSON, validateResponses
 * off), `checked` builds and validates every document and is the reference. Closed, and the prefix removed, after
 * the file's tests.
 */
export async function readPaths(name: string): Promise<{ env: ReturnType<typeof testEnv>; raw: FastifyInstance; checked: FastifyInstance }> {
  const env = testEnv(name);
  const raw = await buildApp({ env, logger: false, validateResponses: false });
  const checked = await buildApp({ env, logger: false });
  await Promise.all([raw.ready(), checked.ready()]);
  after(async () => {
    await Promise.all([raw.close(), checked.close()]);
    await env.cleanup();
  });
  return { env, raw, checked };
}
