import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { canonicalJson } from '@quantlab/shared';
import type { ApiContext } from './context.ts';
import { HttpProblem } from './problem.ts';

/** How long a key is remembered: a client's retries come within minutes; a day is generous. */
export const IDEMPOTENCY_TTL_SEC = 24 * 60 * 60;
/**
 * How long a claim (a request in progress) holds a key: long enough for any create, short enough that a process that
 * died between claiming the key and creating the run does not block the key for a day.
 */
export const IDEMPOTENCY_PENDING_TTL_SEC = 60;
const KEY_RE = /^[\x21-\x7e]{1,200}$/;

interface Stored {
  /** pending: the first request is still creating; done: created, replay `body`. */
  state: 'pending' | 'done';
  fingerprint: string;
  status: number;
  body: unknown;
}

/**
 * Runs `create` at most once per Idempotency-Key. The key is first claimed as pending (SET NX, short TTL); only after
 * `create` succeeded is it marked done with the response, for a day. So a replayed 202 always names something that
 * exists: a repeat while the first request is still creating gets 409 (retry shortly), a repeat after it replays the
 * 202, and a process that dies in between leaves a claim that expires in a minute, not a day of 202s for nothing.
 * When `create` fails the claim is released, so the client's retry can succeed.
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
  const claim: Stored = { state: 'pending', fingerprint, ...response };
  const set = await ctx.redis.set(key, JSON.stringify(claim), 'EX', IDEMPOTENCY_PENDING_TTL_SEC, 'NX');
  if (set !== 'OK') {
    const raw = await ctx.redis.get(key);
    if (raw) {
      const prior = JSON.parse(raw) as Stored;
      if (prior.fingerprint !== fingerprint) throw new HttpProblem('idempotency-key-reused', 'this Idempotency-Key was already used with a different request body');
      if (prior.state === 'pending') {
        throw new HttpProblem('conflict', 'a request with this Idempotency-Key is still being processed; retry in a moment', undefined, { 'retry-after': '2' });
      }
      reply.code(prior.status).header('idempotent-replayed', 'true');
      return prior.body as T;
    }
    // Expired between SET and GET: claim it now.
    if ((await ctx.redis.set(key, JSON.stringify(claim), 'EX', IDEMPOTENCY_PENDING_TTL_SEC, 'NX')) !== 'OK') {
      throw new HttpProblem('conflict', 'a request with this Idempotency-Key is still being processed; retry in a moment', undefined, { 'retry-after': '2' });
    }
  }
  try {
    await create();
  } catch (err) {
    await ctx.redis.del(key).catch(() => {});
    throw err;
  }
  const done: Stored = { ...claim, state: 'done' };
  await ctx.redis.set(key, JSON.stringify(done), 'EX', IDEMPOTENCY_TTL_SEC);
  reply.code(response.status);
  return response.body;
}
