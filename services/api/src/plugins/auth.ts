import { createHmac, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { HttpProblem } from '../problem.ts';

/** Lifetime of a token minted for one run's event stream (EventSource cannot send headers). */
export const EVENT_TOKEN_TTL_MS = 10 * 60_000;

/** Lifetime of the cookie that opens the queue view (/admin/queues) in a browser. */
export const ADMIN_COOKIE_TTL_MS = 15 * 60_000;
export const ADMIN_COOKIE = 'quantlab_admin';

export function sameSecret(a: string, b: string): boolean {
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

/** The value of the short-lived admin cookie: its expiry and an HMAC of it under the API token. */
export function mintAdminCookie(secret: string, now = Date.now()): string {
  const exp = now + ADMIN_COOKIE_TTL_MS;
  return `${exp.toString(36)}.${createHmac('sha256', secret).update(`admin:${exp}`).digest('base64url')}`;
}

export function checkAdminCookie(secret: string, value: string, now = Date.now()): boolean {
  const [expText, sig] = value.split('.');
  const exp = parseInt(expText ?? '', 36);
  if (!sig || !Number.isFinite(exp) || exp < now) return false;
  return sameSecret(sig, createHmac('sha256', secret).update(`admin:${exp}`).digest('base64url'));
}

/** True when the request carries `Authorization: Bearer <secret>`. */
export function hasBearer(request: FastifyRequest, secret: string): boolean {
  const header = request.headers.authorization;
  return Boolean(header?.startsWith('Bearer ') && sameSecret(header.slice(7).trim(), secret));
}

// KEYS[1] the client's failure counter; ARGV[1] window (ms). Returns the count in this window and its remaining ms.
const COUNT_FAILURE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`;

/** Failed authentications per client (request.ip) and window before 429; counted in Redis, shared by API processes. */
export interface AuthFailureLimit {
  redis: Redis;
  key: (client: string) => string;
  max: number;
  windowMs: number;
}

export interface AuthOptions {
  token: string | undefined;
  failures?: AuthFailureLimit;
}

/**
 * Counts a failed authentication of this client and throws: 401, or 429 once the client has failed more than
 * `limit.max` times in the window (guessing is throttled; a request with the valid token never gets here). Logged at
 * the client's first failure in a window and when it crosses the limit, not once per attempt.
 */
export async function refuseAuth(request: FastifyRequest, limit: AuthFailureLimit | undefined, detail: string): Promise<never> {
  if (limit) {
    let count = 0;
    let ttl = 0;
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

/**
 * Bearer authentication for the routes registered in the same scope, when API_TOKEN is set. Routes marked
 * `config.public` are open; routes marked `config.eventToken` also take `?token=` minted by mintEventToken.
 * Failed attempts count per client (`failures`, see refuseAuth).
 */
export default fp(async function auth(app: FastifyInstance, opts: AuthOptions) {
  const secret = opts.token;
  if (!secret) return;
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const config = request.routeOptions.config;
    if (config.public) return;
    const header = request.headers.authorization;
    if (hasBearer(request, secret)) return;
    if (config.eventToken) {
      const token = (request.query as Record<string, unknown>)?.token;
      const id = (request.params as Record<string, unknown>)?.id;
      if (typeof token === 'string' && typeof id === 'string' && checkEventToken(secret, id, token)) return;
    }
    await refuseAuth(request, opts.failures, header ? 'the bearer token is not valid' : 'send Authorization: Bearer <API_TOKEN>');
  });
});
