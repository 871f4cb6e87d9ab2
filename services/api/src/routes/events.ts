import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EventToken, FINAL_STATUSES, IdParams, Problem, type RunEvent } from '@quantlab/shared';
import { mintEventToken } from '../plugins/auth.ts';
import { HttpProblem } from '../problem.ts';
import { readRun } from '../services/experiments.ts';

export interface EventsOptions {
  /** Comment lines that keep proxies and browsers from closing an idle stream. */
  heartbeatMs: number;
}

/**
 * GET /experiments/:id/events: server-sent events from Redis pub/sub (RunStore publishes on keys.events(id)).
 * The stream opens with the current document (`event: snapshot`), then forwards `status`, `progress` and `epoch`
 * events as they happen, and ends after a final status.
 */
const events: FastifyPluginAsyncZod<EventsOptions> = async (app, opts) => {
  const ctx = app.ql;
  const open = new Set<ServerResponse>();
  // Streams are counted from the moment one is asked for (EVENT_STREAMS_MAX in all, EVENT_STREAMS_PER_CLIENT_MAX per
  // client), so a client cannot hold a subscriber slot and a socket each for as many streams as it likes.
  let streams = 0;
  const perClient = new Map<string, number>();
  const release = (client: string) => {
    streams--;
    const n = (perClient.get(client) ?? 1) - 1;
    if (n <= 0) perClient.delete(client);
    else perClient.set(client, n);
  };
  // SSE connections are never idle: end them so that app.close() (SIGTERM) does not wait for clients.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });

  app.get(
    '/experiments/:id/events',
    {
      config: { eventToken: true },
      schema: {
        operationId: 'streamExperimentEvents',
        summary: 'Live events of a run (Server-Sent Events)',
        description:
          'text/event-stream: `snapshot` (the RunDocument), then `status`, `progress` and `epoch` events; heartbeat comments; closes after a final status. Event ids count epochs (the snapshot\'s is its last epoch): a client that reconnects with Last-Event-ID gets a fresh snapshot holding every epoch, those after its id being the ones it missed. With API_TOKEN set, send the bearer header (fetch streams) or `?token=` from /experiments/:id/events/token (EventSource).',
        tags: ['experiments'],
        params: IdParams,
        querystring: z.strictObject({ token: z.string().max(200).optional() }),
        response: { 200: { description: 'an event stream', content: { 'text/event-stream': { schema: z.string() } } }, 400: Problem, 401: Problem, 404: Problem, 429: Problem, 503: Problem },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const client = request.ip;
      if ((perClient.get(client) ?? 0) >= ctx.env.EVENT_STREAMS_PER_CLIENT_MAX) {
        throw new HttpProblem('rate-limited', `this client has ${ctx.env.EVENT_STREAMS_PER_CLIENT_MAX} event streams open already (EVENT_STREAMS_PER_CLIENT_MAX); close one`, undefined, { 'retry-after': '5' });
      }
      if (streams >= ctx.env.EVENT_STREAMS_MAX) {
        throw new HttpProblem('unavailable', `the API has ${ctx.env.EVENT_STREAMS_MAX} event streams open (EVENT_STREAMS_MAX); poll GET /experiments/${id} or try again shortly`, undefined, { 'retry-after': '5' });
      }
      streams++;
      perClient.set(client, (perClient.get(client) ?? 0) + 1);
      let released = false;
      const releaseOnce = () => {
        if (released) return;
        released = true;
        release(client);
      };
      try {
        await stream();
      } catch (err) {
        releaseOnce();
        throw err;
      }

      async function stream(): Promise<void> {
        const pending: string[] = [];
        let res: ServerResponse | null = null;
        let done = false;

        const write = (msg: string) => {
          if (done) return;
          if (!res) return void pending.push(msg);
          let event: RunEvent;
          try {
            event = JSON.parse(msg) as RunEvent;
          } catch {
            return;
          }
          res.write(`${event.type === 'epoch' ? `id: ${event.epoch.epoch}\n` : ''}event: ${event.type}\ndata: ${msg}\n\n`);
          if (event.type === 'status' && FINAL_STATUSES.includes(event.status)) finish();
        };
        // Subscribe before reading the document, so nothing that happens in between is lost.
        const unlisten = await ctx.hub.listen(ctx.runs.keys.events(id), write);
        let doc;
        try {
          doc = await readRun(ctx, id);
        } catch (err) {
          await unlisten();
          throw err;
        }

        reply.hijack();
        const out = reply.raw;
        res = out;
        open.add(out);
        // The client may have gone while the document was read: its 'close' has then already fired.
        const gone = () => out.destroyed || !out.socket || out.socket.destroyed;
        const heartbeat = setInterval(() => {
          if (gone()) return finish();
          out.write(': ping\n\n');
          void endIfFinal();
        }, opts.heartbeatMs);
        // A message lost between Redis and this subscriber (a reconnect of its connection) must not keep the stream open
        // forever: each heartbeat also looks at the stored status and ends the stream with it once it is final.
        let checking = false;
        const endIfFinal = async () => {
          if (checking || done) return;
          checking = true;
          try {
            // One HGET a heartbeat; the document (for a failure's reason) only once the run has ended.
            const status = await ctx.runs.status(id);
            if (!status || !FINAL_STATUSES.includes(status)) return;
            const now = await readRun(ctx, id);
            write(JSON.stringify({ type: 'status', runId: id, status: now.status, ...(now.error ? { error: now.error } : {}) } satisfies RunEvent));
          } catch {
            // Redis away or the run deleted: the next heartbeat tries again; a closed client ends the stream anyway.
          } finally {
            checking = false;
          }
        };
        const finish = () => {
          if (done) return;
          done = true;
          releaseOnce();
          clearInterval(heartbeat);
          open.delete(out);
          void unlisten();
          out.end();
        };
        out.on('close', finish);
        if (gone()) return finish();
        res.writeHead(200, {
          ...(reply.getHeaders() as Record<string, string>),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write(`retry: 3000\nid: ${doc.epochs.at(-1)?.epoch ?? 0}\nevent: snapshot\ndata: ${JSON.stringify(doc)}\n\n`);
        if (FINAL_STATUSES.includes(doc.status)) return finish();
        for (const msg of pending.splice(0)) write(msg);
      }
    },
  );

  app.get(
    '/experiments/:id/events/token',
    {
      schema: {
        operationId: 'getEventToken',
        summary: 'A short-lived token for one run’s event stream',
        description: 'For clients that cannot send headers (EventSource): valid for 10 minutes, for this run’s /events only.',
        tags: ['experiments'],
        params: IdParams,
        response: { 200: EventToken, 401: Problem, 404: Problem },
      },
    },
    async (request) => {
      const { id } = request.params;
      await readRun(ctx, id);
      const secret = ctx.env.API_TOKEN;
      if (!secret) return { token: '', expiresAt: new Date(Date.now() + 10 * 60_000).toISOString(), url: `/experiments/${id}/events` };
      const t = mintEventToken(secret, id);
      return { ...t, url: `/experiments/${id}/events?token=${encodeURIComponent(t.token)}` };
    },
  );
};

export default events;
