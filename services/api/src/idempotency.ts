import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { canonicalJson } from '@quantlab/shared';
import type { ApiContext } from './context.ts';
import { HttpProblem } from './problem.ts';

/** How long a key is remembered: a client's retries come within minutes; a day is generous. */
export const IDEMPOTENCY_TTL_SEC = 24 * 60 * 60;
const KEY_RE = /^[\x21-\x7e]{1,200}$/;

interface Stored {
  fingerprint: string;
  status: number;
  body: unknown;
}

/**
 * Runs `create` at most once per Idempotency-Key. The response is decided before anything is created and saved
 * with SET NX, so a repeat (even one racing the first request) replays the same 202 and creates nothing. When
 * `create` fails the key is released, so the client's retry can succeed.
 */
export async function idempotent<T>(
  ctx: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  scope: string,
  response: { status: number; body: T },
  create: () => Promise<void>,
): Promise<T> {
  const header = request.headers['idempotency-key'];
  if (header === undefined) {
    await create();
    reply.code(response.status);
    return response.body;
  }
  if (typeof header !== 'string' || !KEY_RE.test(header)) {
    throw new HttpProblem('validation', 'Idempotency-Key must be 1-200 printable ASCII characters', [{ path: ['headers', 'idempotency-key'], message: 'invalid', code: 'invalid_format' }]);
  }
  const key = ctx.runs.keys.idempotency(`${scope}:${header}`);
  const fingerprint = createHash('sha256').update(canonicalJson(request.body)).digest('base64url');
  const mine: Stored = { fingerprint, ...response };
  const set = await ctx.redis.set(key, JSON.stringify(mine), 'EX', IDEMPOTENCY_TTL_SEC, 'NX');
  if (set !== 'OK') {
    const raw = await ctx.redis.get(key);
    if (raw) {
      const prior = JSON.parse(raw) as Stored;
      if (prior.fingerprint !== fingerprint) throw new HttpProblem('idempotency-key-reused', 'this Idempotency-Key was already used with a different request body');
      reply.code(prior.status).header('idempotent-replayed', 'true');
      return prior.body as T;
    }
    // Expired between SET and GET: treat as new.
    await ctx.redis.set(key, JSON.stringify(mine), 'EX', IDEMPOTENCY_TTL_SEC);
  }
  try {
    await create();
  } catch (err) {
    await ctx.redis.del(key).catch(() => {});
    throw err;
  }
  reply.code(response.status);
  return response.body;
}
