import fp from 'fastify-plugin';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Problem } from '@quantlab/shared';
import { HttpProblem, PROBLEMS, type ProblemType } from '../problem.ts';

/** Sends a problem as application/problem+json (serialized here: the route's response schemas describe success). */
export function sendProblem(reply: FastifyReply, p: HttpProblem): FastifyReply {
  for (const [k, v] of Object.entries(p.headers)) reply.header(k, v);
  return reply.code(p.status).type('application/problem+json').send(JSON.stringify(p.toJSON(reply.request.url.split('?')[0])));
}

const MAX_ISSUES = 20;

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
    // At most MAX_ISSUES listed: a body with thousands of bad fields must not get an answer thousands of issues long.
    const issues: NonNullable<Problem['issues']> = err.validation.slice(0, MAX_ISSUES).map((v) => ({
      path: v.instancePath.split('/').filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
      message: v.message ?? 'invalid',
      code: v.keyword,
    }));
    const first = issues[0];
    const at = first.path.length ? ` at ${first.path.join('.')}` : '';
    const more = err.validation.length - 1;
    return new HttpProblem('validation', `invalid ${where}${at}: ${first.message}${more > 0 ? ` (and ${more} more)` : ''}`, issues);
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

/**
 * Errors Node's HTTP parser meets before Fastify has a request (Fastify's clientErrorHandler): headers over the size
 * limit (431), a request not received within REQUEST_TIMEOUT_MS (408), anything unparsable (400), as problem+json
 * written straight to the socket, which is then closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const p =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new HttpProblem('headers-too-large', 'the request line and headers exceed the size limit (16 KiB)')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new HttpProblem('request-timeout', 'the request was not received within the time limit (REQUEST_TIMEOUT_MS)')
        : new HttpProblem('bad-request', 'the request could not be parsed as HTTP');
  if (socket.writable) {
    const body = JSON.stringify(p.toJSON());
    socket.write(`HTTP/1.1 ${p.status} ${PROBLEMS[p.type].title}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** The longest URL parameter the router looks at (Fastify's maxParamLength); a longer one is 414. */
export const MAX_PARAM_LENGTH = 200;

/**
 * A GET whose URL parameter is over MAX_PARAM_LENGTH matches no API route, so the router hands it to the dashboard's
 * catch-all file route instead of raising FST_ERR_MAX_PARAM_LENGTH: that route refuses such a path the same way (414),
 * not as a missing route (404) or, when the segment is too long for a file name, as a bare "Forbidden".
 */
export function refuseOverlongSegment(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const path = request.url.split('?')[0];
  if (path.split('/').some((segment) => segment.length > MAX_PARAM_LENGTH)) void sendProblem(reply, new HttpProblem('uri-too-long', 'a part of the URL is longer than allowed'));
  else done();
}

/** Errors Fastify's router meets (Fastify's frameworkErrors): a URL parameter over maxParamLength is 414. */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const p =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new HttpProblem('uri-too-long', 'a part of the URL is longer than allowed')
      : err.statusCode && err.statusCode < 500
        ? new HttpProblem('bad-request', err.message)
        : new HttpProblem('internal', 'an unexpected error occurred; it has been logged');
  void sendProblem(reply, p);
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const p = toProblem(err);
    if (p.status >= 500) request.log.error({ err }, 'request failed');
    return sendProblem(reply, p);
  });
  app.setNotFoundHandler({ preHandler: refuseOverlongSegment }, (request, reply) => sendProblem(reply, new HttpProblem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`)));
});
