import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import { servableDatasets } from '@quantlab/ml/datasets/index';
import {
  RunStore,
  RunWorker,
  StoppingStore,
  ModelStore,
  WorkerRegistration,
  bullPrefix,
  createRunQueue,
  producerConnection,
  workerConnection,
  type Env,
  type JobName,
  type RunJobData,
  type RunJobResult,
} from '@quantlab/shared';
import { createLogger, type Logger } from './log.ts';
import { checkHandlers, createHandlers, type JobHandlers } from './jobs/handlers.ts';
import { checkJobData, onJobFailed } from './jobs/failed.ts';
import { TrainingPool, type StopFlag, type ThreadRuntime, type ThreadTestHooks, type Trainer } from './threads/pool.ts';
import type { WorkerContext } from './jobs/context.ts';
import { createWorkerMetrics, serveMetrics, type WorkerMetrics } from './metrics.ts';

export interface WorkerOptions {
  id?: string;
  log?: Logger;
  heartbeatMs?: number;
  /** Tests only: hooks into the training threads (see ThreadTestHooks). */
  testHooks?: ThreadTestHooks;
  /** Trains the runs; default: WORKER_CONCURRENCY training threads on TFJS_BACKEND. The scale bench simulates it. */
  pool?: Trainer;
}

export interface RunningWorker {
  id: string;
  /** The training threads; fault tests end them to play a thread that crashed. */
  pool: Trainer;
  metrics: WorkerMetrics;
  /** Where GET /metrics answers (METRICS_PORT set), else null. */
  metricsUrl: string | null;
  /** The backend the training threads use ('wasm+onednn', 'wasm', ...) and why the faster ones were not taken. */
  runtime: ThreadRuntime;
  /** Takes no new job, stops the current runs at their next batch (they return to the queue), exits within SHUTDOWN_TIMEOUT_MS. */
  close(): Promise<void>;
}

/**
 * A BullMQ worker on the run queue. Training happens in long-lived worker threads (one per concurrency slot), so this
 * thread's event loop stays free to renew job locks, poll for cancel requests and write results.
 */
export async function startWorker(env: Env, opts: WorkerOptions = {}): Promise<RunningWorker> {
  const id = opts.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const log = opts.log ?? createLogger(env.LOG_LEVEL, { worker: id });
  const pool = opts.pool ?? new TrainingPool(env.WORKER_CONCURRENCY, { backend: env.TFJS_BACKEND, threads: env.NATIVE_THREADS }, opts.testHooks);
  let runtime: ThreadRuntime;
  try {
    runtime = await pool.ready();
  } catch (e) {
    await pool.close();
    throw e;
  }

  const { backend } = runtime;
  const redis = workerConnection(env.REDIS_URL);
  redis.on('error', (e) => log.warn('redis connection error', { error: e.message }));
  const store = new RunStore(redis, env.KEY_PREFIX);
  const stopping = new StoppingStore(redis, env.KEY_PREFIX);
  const models = new ModelStore(redis, env.KEY_PREFIX);
  const registry = new WorkerRegistration(
    redis,
    env.KEY_PREFIX,
    { id, host: hostname(), pid: process.pid, backend, datasets: servableDatasets(env.DATA_DIR), concurrency: env.WORKER_CONCURRENCY, currentRuns: [], startedAt: new Date().toISOString() },
    opts.heartbeatMs,
    // Datasets dropped into DATA_DIR while the worker runs show up at its next heartbeat.
    () => ({ datasets: servableDatasets(env.DATA_DIR) }),
  );
  await registry.start();

  // Queue depth for the metrics: a producer connection (a scrape fails fast while Redis is away, it does not hang),
  // opened only when the metrics are served.
  const queueConnection = env.METRICS_PORT === undefined ? null : producerConnection(env.REDIS_URL);
  queueConnection?.on('error', () => {});
  const depthQueue = queueConnection ? createRunQueue(env, queueConnection) : null;
  depthQueue?.on('error', () => {});
  const metrics = createWorkerMetrics(depthQueue ?? { getJobCounts: async () => ({}) }, backend);
  metrics.process.instrumentRedis(redis);

  let closing = false;
  const running = new Map<string, StopFlag>();
  const ctx: WorkerContext = { env, workerId: id, runtime, store, models, stopping, pool, registry, log, metrics, running, isClosing: () => closing };
  const handlers: JobHandlers = createHandlers(ctx);
  checkHandlers(handlers);

  // BullMQ does not close a connection it is given (it only closes its own duplicates): closed below.
  const bullConnection = workerConnection(env.REDIS_URL);
  const worker = new RunWorker(
    env.QUEUE_NAME,
    async (job: Job<RunJobData, RunJobResult, JobName>, token?: string) => {
      const handler = (handlers as Partial<Record<string, JobHandlers[JobName]>>)[job.name];
      if (!handler) throw new UnrecoverableError(`no handler for job name "${job.name}"`);
      checkJobData(job);
      return handler(job, token!);
    },
    {
      connection: bullConnection,
      prefix: bullPrefix(env),
      concurrency: env.WORKER_CONCURRENCY,
      lockDuration: env.LOCK_DURATION_MS,
      stalledInterval: env.STALLED_INTERVAL_MS,
      // A stall is a crashed worker; the run resumes from its checkpoint, so allow a couple before giving up.
      maxStalledCount: env.MAX_STALLED_COUNT,
    },
  );
  worker.on('error', (e) => log.warn('worker error', { error: e.message }));
  // Every final failure ends its run failed, whoever failed the job: the handler already did when it could, but BullMQ
  // fails some jobs without calling it (over the stall limit, unreadable data, a handler that threw before writing).
  worker.on('failed', (job, e) => {
    log.info('job failed', { jobId: job?.id, name: e.name, error: e.message, final: !!job?.finishedOn });
    if (job) void onJobFailed(ctx, job, e);
  });
  worker.on('completed', (job, result) => log.info('job done', { jobId: job.id, status: result.status }));
  metrics.process.instrumentRedis(bullConnection);
  await worker.waitUntilReady();
  const served = env.METRICS_PORT === undefined ? null : await serveMetrics(metrics.process, env.METRICS_HOST, env.METRICS_PORT);
  const metricsUrl = served ? `http://${env.METRICS_HOST.includes(':') ? `[${env.METRICS_HOST}]` : env.METRICS_HOST}:${served.port}/metrics` : null;
  log.info('worker started', { backend, backendReason: runtime.backendReason, concurrency: env.WORKER_CONCURRENCY, queue: env.QUEUE_NAME, metrics: metricsUrl });

  let closed: Promise<void> | null = null;
  const close = () =>
    (closed ??= (async () => {
      closing = true;
      for (const stop of running.values()) stop.set('shutdown');
      // worker.close() waits for the runs in progress, which stop at their next batch and return to the queue.
      // Past the deadline, force it: the threads die with their jobs' locks, and stalled-job recovery resumes them.
      let timer: NodeJS.Timeout | undefined;
      const graceful = await Promise.race([
        worker.close().then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), env.SHUTDOWN_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      if (!graceful) {
        log.warn('shutdown timeout: stopping the training threads now', { timeoutMs: env.SHUTDOWN_TIMEOUT_MS });
        await pool.close();
        await worker.close(true).catch(() => {});
      }
      await registry.stop().catch(() => {});
      await pool.close();
      if (served) {
        const done = new Promise((r) => served.server.close(r));
        served.server.closeAllConnections(); // keep-alive scrapers would hold close() open
        await done;
      }
      await depthQueue?.close().catch(() => {});
      await queueConnection?.quit().catch(() => queueConnection.disconnect());
      await redis.quit().catch(() => redis.disconnect());
      await bullConnection.quit().catch(() => bullConnection.disconnect());
      log.info('worker stopped', { graceful });
    })());
  return { id, pool, metrics, metricsUrl, runtime, close };
}
