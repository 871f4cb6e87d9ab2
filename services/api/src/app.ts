import { createServer } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { createRunQueue, ModelStore, producerConnection, QUANTLAB_VERSION, RunStore, SweepStore, WorkerDirectory, type Env } from '@quantlab/shared';
import type { ApiContext } from './context.ts';
import { EventHub } from './events-hub.ts';
import { startMaintenance, type Maintenance, type MaintenanceHooks } from './maintenance.ts';
import adminQueues from './plugins/admin-queues.ts';
import auth from './plugins/auth.ts';
import dashboard from './plugins/dashboard.ts';
import errors, { clientErrorHandler, frameworkErrors, MAX_PARAM_LENGTH } from './plugins/errors.ts';
import metrics from './plugins/metrics.ts';
import openapi from './plugins/openapi.ts';
import events from './routes/events.ts';
import experiments from './routes/experiments.ts';
import lifecycle from './routes/lifecycle.ts';
import models from './routes/models.ts';
import ops from './routes/ops.ts';
import sweeps from './routes/sweeps.ts';
import workers from './routes/workers.ts';

export interface BuildAppOptions {
  env: Env;
  /** Log through pino at env.LOG_LEVEL (default); false silences. */
  logger?: boolean;
  /** Where the log lines go (default stdout); tests read them. */
  logStream?: { write(line: string): void };
  /** SSE heartbeat interval (tests shorten it). */
  sseHeartbeatMs?: number;
  /** Serve the dashboard from another folder. */
  dashboardRoot?: string;
  /**
   * Check every response against its zod schema before sending it (default true: tests catch contract drift).
   * server.ts turns it off: encoding a RunDocument through zod costs about as much as the rest of a GET.
   */
  validateResponses?: boolean;
  /** Told about every retention round this process runs (tests count them). */
  onRetention?: MaintenanceHooks['onRetention'];
}

/** The API as a Fastify instance (not listening): server.ts listens, tests use inject. Closing it closes Redis and the queue. */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { env } = opts;
  const app = Fastify({
    logger: opts.logger === false ? false : { level: env.LOG_LEVEL, ...(opts.logStream ? { stream: opts.logStream } : {}) },
    bodyLimit: env.BODY_LIMIT_BYTES,
    // REQUEST_TIMEOUT_MS bounds how long a client may take to send its request (slow headers or body hold a
    // connection and memory); Node checks it every connectionsCheckingInterval. It does not apply to responses, so an
    // event stream stays open as long as it likes.
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout: env.REQUEST_TIMEOUT_MS,
          headersTimeout: Math.min(env.REQUEST_TIMEOUT_MS, 60_000),
          connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(env.REQUEST_TIMEOUT_MS / 4))),
        },
        handler,
      ),
    clientErrorHandler,
    frameworkErrors,
    // Which X-Forwarded-For to believe (TRUST_PROXY): request.ip keys the rate limits, so by default nobody's.
    // (Fastify takes a hop count too, as proxy-addr does; its type leaves numbers out.)
    trustProxy: env.TRUST_PROXY as boolean | string[],
    // Ids in URLs are checked by the route schemas; this bounds what the router has to look at.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A log line per request costs more than the request itself at thousands a second; debug turns them on.
    logController: new LogController({ disableRequestLogging: env.LOG_LEVEL !== 'debug' && env.LOG_LEVEL !== 'trace' }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(opts.validateResponses === false ? () => (data: unknown) => JSON.stringify(data) : serializerCompiler);
  // Bodies are JSON only: anything else is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');

  // Auto-pipelining batches the commands of concurrent requests into one round trip.
  const commandTimeout = env.REDIS_COMMAND_TIMEOUT_MS;
  const redis = producerConnection(env.REDIS_URL, { enableAutoPipelining: true, commandTimeout });
  const queueConnection = producerConnection(env.REDIS_URL, { commandTimeout });
  redis.on('error', (err) => app.log.warn({ err: err.message }, 'redis'));
  queueConnection.on('error', (err) => app.log.warn({ err: err.message }, 'redis (queue)'));
  const queue = createRunQueue(env, queueConnection);
  // Without a listener BullMQ prints every connection error; requests already answer 503 while Redis is away.
  queue.on('error', (err) => app.log.warn({ err: err.message }, 'queue'));
  const hub = new EventHub(() => {
    // No ready check: its INFO on a connection whose SUBSCRIBE went first is refused in subscriber mode ("only
    // subscriber commands may be used"), seen as a 500 on the first event streams after a start under load; a
    // subscriber has no use for the check (it waits out a Redis that is still loading its data).
    const sub = producerConnection(env.REDIS_URL, { maxRetriesPerRequest: null, commandTimeout, enableReadyCheck: false });
    sub.on('error', (err) => app.log.warn({ err: err.message }, 'redis (events)'));
    return sub;
  });
  const ctx: ApiContext = { env, redis, runs: new RunStore(redis, env.KEY_PREFIX), sweeps: new SweepStore(redis, env.KEY_PREFIX), models: new ModelStore(redis, env.KEY_PREFIX), workers: new WorkerDirectory(redis, env.KEY_PREFIX), queue, hub, rawReads: opts.validateResponses === false };
  app.decorate('ql', ctx);
  // Both need Redis, which may be away at start: they run beside the requests instead of holding up ready().
  let maintenance: Promise<Maintenance | null> = Promise.resolve(null);
  app.addHook('onReady', async () => {
    // Runs stored before the store kept its indexes get them once (a marker key makes later starts one GET).
    void ctx.runs.ensureIndexes().then(
      (n) => n && app.log.info({ runs: n }, 'run indexes built'),
      (err: Error) => app.log.warn({ err: err.message }, 'building the run indexes failed; the next start tries again'),
    );
    maintenance = startMaintenance(ctx, env, {
      onRetention: (r, job) => {
        if (r.removed.length) app.log.info({ job: job.id, removed: r.removed.length, sweeps: r.removedSweeps.length, kept: r.kept.length }, 'retention');
        opts.onRetention?.(r, job);
      },
      onError: (err) => app.log.warn({ err: err.message }, 'maintenance'),
    }).catch((err: Error) => {
      app.log.warn({ err: err.message }, 'maintenance did not start');
      return null;
    });
  });
  app.addHook('onClose', async () => {
    await (await maintenance)?.close();
    await hub.close();
    await queue.close().catch(() => {});
    await Promise.all([redis.quit().catch(() => redis.disconnect()), queueConnection.quit().catch(() => queueConnection.disconnect())]);
  });

  await app.register(errors);
  await app.register(metrics);
  if (env.CORS_ORIGIN) {
    const origins = env.CORS_ORIGIN.split(',').map((s) => s.trim());
    await app.register(cors, { origin: origins.includes('*') ? true : origins, exposedHeaders: ['location', 'idempotent-replayed'] });
  }
  await app.register(openapi, { version: QUANTLAB_VERSION });
  await app.register(dashboard, { root: opts.dashboardRoot });
  await app.register(adminQueues);

  // Everything below is the API proper: bearer token when API_TOKEN is set (but routes marked public), rate limits on
  // writes (routes marked config.rateLimit, RATE_LIMIT_MAX) and on reads (every other non-public GET, RATE_LIMIT_READ_MAX).
  await app.register(async (api) => {
    await api.register(auth, {
      token: env.API_TOKEN,
      failures: { redis, key: (client) => `${env.KEY_PREFIX}:authfail:${client}`, max: env.AUTH_FAIL_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS },
    });
    // Runs before the rate-limit plugin's own onRoute hook (registered after it), which reads config.rateLimit.
    api.addHook('onRoute', (route) => {
      const config = (route.config ??= {}) as { public?: boolean; rateLimit?: object | false };
      const methods = [route.method].flat();
      if (config.rateLimit !== undefined) {
        if (env.RATE_LIMIT_MAX === 0) config.rateLimit = false;
      } else if (!config.public && methods.every((m) => m === 'GET' || m === 'HEAD') && env.RATE_LIMIT_READ_MAX > 0) {
        // Reads keep working while Redis is full (skipOnError): the limiter's counter is a write.
        config.rateLimit = { max: env.RATE_LIMIT_READ_MAX, skipOnError: true };
      }
    });
    if (env.RATE_LIMIT_MAX > 0 || env.RATE_LIMIT_READ_MAX > 0) {
      await api.register(rateLimit, {
        global: false,
        max: env.RATE_LIMIT_MAX,
        timeWindow: env.RATE_LIMIT_WINDOW_MS,
        redis,
        nameSpace: `${env.KEY_PREFIX}:ratelimit:`,
      });
    }
    await api.register(ops);
    await api.register(experiments);
    await api.register(events, { heartbeatMs: opts.sseHeartbeatMs ?? 15_000 });
    await api.register(sweeps);
    await api.register(workers);
    await api.register(lifecycle);
    await api.register(models);
  });
  return app;
}
