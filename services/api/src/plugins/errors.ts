import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Problem } from '@quantlab/shared';
import { HttpProblem, type ProblemType } from '../problem.ts';

/** Sends a problem as application/problem+json (serialized here: the route's response schemas describe success). */
export function sendProblem(reply: FastifyReply, p: HttpProblem): FastifyReply {
  for (const [k, v] of Object.entries(p.headers)) reply.header(k, v);
  return reply.code(p.status).type('application/problem+json').send(JSON.stringify(p.toJSON(reply.request.url.split('?')[0])));
}

/** Redis at maxmemory (noeviction) refuses writes with OOM; inside a MULTI, EXEC then fails with EXECABORT. */
export function isOutOfMemory(err: unknown): boolean {
  const e = err as { message?: string; previousErrors?: { message?: string }[] } | null;
  if (!e || typeof e.message !== 'string') return false;
  return e.message.startsWith('OOM ') || (e.message.startsWith('EXECABORT') && !!e.previousErrors?.some((p) => p.message?.startsWith('OOM ')));
}

/** Maps whatever a route, a hook or Fastify itself threw to a problem. */
export function toProblem(err: FastifyError & { validationContext?: string }): HttpProblem {
  if (err instanceof HttpProblem) return err;
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = err.validationContext ?? 'request';
    const issues: NonNullable<Problem['issues']> = err.validation.map((v) => ({
      path: v.instancePath.split('/').filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
      message: v.message ?? 'invalid',
      code: v.keyword,
    }));
    const first = issues[0];
    const at = first.path.length ? ` at ${first.path.join('.')}` : '';
    return new HttpProblem('validation', `invalid ${where}${at}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, issues);
  }
  const byCode: Record<string, ProblemType> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'payload-too-large',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad-request',
  };
  if (err.code && byCode[err.code]) return new HttpProblem(byCode[err.code], err.message);
  if (err.statusCode === 429) return new HttpProblem('rate-limited', err.message);
  if (err.statusCode === 404) return new HttpProblem('not-found', err.message);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new HttpProblem('bad-request', err.message);
  if (isOutOfMemory(err)) {
    return new HttpProblem('insufficient-storage', 'the store is full (Redis reached maxmemory); nothing was written. Delete old runs or raise maxmemory', undefined, { 'retry-after': '60' });
  }
  // ioredis gives up after maxRetriesPerRequest (Redis away) or REDIS_COMMAND_TIMEOUT_MS (Redis hung): not our bug.
  if (err.name === 'MaxRetriesPerRequestError' || /ECONNREFUSED|Connection is closed|Stream isn't writeable|Command timed out/.test(err.message)) {
    return new HttpProblem('unavailable', 'Redis is not reachable; try again shortly', undefined, { 'retry-after': '5' });
  }
  return new HttpProblem('internal', 'an unexpected error occurred; it has been logged');
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const p = toProblem(err);
    if (p.status >= 500) request.log.error({ err }, 'request failed');
    return sendProblem(reply, p);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, new HttpProblem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`)));
});
