import { createHmac, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { HttpProblem } from '../problem.ts';

/** Lifetime of a token minted for one run's event stream (EventSource cannot send headers). */
export const EVENT_TOKEN_TTL_MS = 10 * 60_000;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // timingSafeEqual needs equal lengths; comparing y with itself keeps the time independent of where they differ.
  return x.length === y.length ? timingSafeEqual(x, y) : (timingSafeEqual(y, y), false);
}

function sign(secret: string, runId: string, exp: number): string {
  return createHmac('sha256', secret).update(`events:${runId}:${exp}`).digest('base64url');
}

/** A short-lived token that opens the event stream of one run and nothing else. */
export function mintEventToken(secret: string, runId: string, now = Date.now()): { token: string; expiresAt: string } {
  const exp = now + EVENT_TOKEN_TTL_MS;
  return { token: `${exp.toString(36)}.${sign(secret, runId, exp)}`, expiresAt: new Date(exp).toISOString() };
}

export function checkEventToken(secret: string, runId: string, token: string, now = Date.now()): boolean {
  const [expText, sig] = token.split('.');
  const exp = parseInt(expText ?? '', 36);
  if (!sig || !Number.isFinite(exp) || exp < now) return false;
  return sameSecret(sig, sign(secret, runId, exp));
}

// KEYS[1] the client's failure counter; ARGV[1] window (ms). Returns the count in this window and its remaining ms.
const COUNT_FAILURE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`;

export interface AuthOptions {
  token: string | undefined;
  /** Failed authentications per client (request.ip) and window before 429; counted in Redis, shared by API processes. */
  failures?: { redis: Redis; key: (client: string) => string; max: number; windowMs: number };
}

/**
 * Bearer authentication for the routes registered in the same scope, when API_TOKEN is set. Routes marked
 * `config.public` are open; routes marked `config.eventToken` also take `?token=` minted by mintEventToken.
 * Failed attempts count per client: over `failures.max` in a window, a request without a valid token gets 429
 * (guessing is throttled) while one with the valid token goes through as before.
 */
export default fp(async function auth(app: FastifyInstance, opts: AuthOptions) {
  const secret = opts.token;
  if (!secret) return;
  const limit = opts.failures;

  /** 401, or 429 once this client has failed too often; logged at the first failure and when the limit is crossed. */
  async function refuse(request: FastifyRequest, detail: string): Promise<never> {
    let count = 0;
    let ttl = 0;
    if (limit) {
      try {
        [count, ttl] = (await limit.redis.eval(COUNT_FAILURE, 1, limit.key(request.ip), limit.windowMs)) as [number, number];
      } catch {
        // The counter is unavailable (Redis away or full): still refuse, as 401.
      }
      if (count === 1 || count === limit.max + 1) {
        request.log.warn({ client: request.ip, failures: count, max: limit.max, url: request.url.split('?')[0] }, count > limit.max ? 'authentication failures over the limit: answering 429' : 'authentication failed');
      }
      if (count > limit.max) {
        throw new HttpProblem('rate-limited', `too many failed authentications from this client; try again in ${Math.ceil(ttl / 1000)} s`, undefined, {
          'retry-after': String(Math.max(1, Math.ceil(ttl / 1000))),
        });
      }
    }
    throw new HttpProblem('unauthorized', detail, undefined, { 'www-authenticate': 'Bearer realm="quantlab"' });
  }

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const config = request.routeOptions.config;
    if (config.public) return;
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ') && sameSecret(header.slice(7).trim(), secret)) return;
    if (config.eventToken) {
      const token = (request.query as Record<string, unknown>)?.token;
      const id = (request.params as Record<string, unknown>)?.id;
      if (typeof token === 'string' && typeof id === 'string' && checkEventToken(secret, id, token)) return;
    }
    await refuse(request, header ? 'the bearer token is not valid' : 'send Authorization: Bearer <API_TOKEN>');
  });
});
