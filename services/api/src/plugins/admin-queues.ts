// Bull Board at /admin/queues: the run queue's jobs by state, for operators. Behind the API token like the API: a
// Bearer header, or (browsers cannot send one when they open a page) a short-lived HMAC cookie that
// POST /admin/session sets for a caller who presents the Bearer token. Read-only unless ADMIN_QUEUES_WRITE=true:
// retrying or removing a job here bypasses the run store (a removed job leaves its run queued forever).
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from '../problem.ts';
import { sendProblem } from './errors.ts';
import { ADMIN_COOKIE, ADMIN_COOKIE_TTL_MS, checkAdminCookie, hasBearer, mintAdminCookie } from './auth.ts';

export const ADMIN_QUEUES_PATH = '/admin/queues';

function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

function setCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSec: number): void {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  reply.header('set-cookie', `${ADMIN_COOKIE}=${value}; Path=/admin; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict${secure}`);
}

/** Registered in its own scope: the API's auth hook does not apply here, this one does. */
export default async function adminQueues(app: FastifyInstance): Promise<void> {
  const { env, queue } = app.ql;
  const secret = env.API_TOKEN;

  // Neither Bull Board's pages nor the session route belong in the OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.schema = { ...(route.schema ?? {}), hide: true };
  });
  // Sent, not thrown: Bull Board's routes have an error handler of their own that would make it a 500.
  app.addHook('onRequest', async (request, reply) => {
    const session = request.url.split('?')[0] === '/admin/session';
    if (!secret || (session && request.method === 'DELETE')) return;
    if (hasBearer(request, secret)) return;
    // The cookie opens the queue view, not the route that mints cookies.
    const c = cookie(request, ADMIN_COOKIE);
    if (c && !session && checkAdminCookie(secret, c)) return;
    const problem = new HttpProblem('unauthorized', 'send Authorization: Bearer <API_TOKEN>, or POST /admin/session with it first for a browser cookie', undefined, {
      'www-authenticate': 'Bearer realm="quantlab"',
    });
    return sendProblem(reply, problem);
  });

  // For browsers: trade the Bearer token for a cookie that opens /admin/queues for ADMIN_COOKIE_TTL_MS.
  app.post('/admin/session', async (request, reply) => {
    setCookie(request, reply, secret ? mintAdminCookie(secret) : 'open', Math.floor(ADMIN_COOKIE_TTL_MS / 1000));
    return reply.code(204).send();
  });
  app.delete('/admin/session', async (request, reply) => {
    setCookie(request, reply, '', 0);
    return reply.code(204).send();
  });

  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: !env.ADMIN_QUEUES_WRITE, allowRetries: env.ADMIN_QUEUES_WRITE })],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'quantlab queue' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: ADMIN_QUEUES_PATH });
}
