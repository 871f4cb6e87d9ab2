import { Job, Queue, Worker, type ConnectionOptions, type JobJson, type Processor, type WorkerOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { ExperimentConfig } from './schemas/experiment.ts';
import type { RunDocument } from './schemas/run.ts';
import type { Env } from './config.ts';

/**
 * The job contract shared by producer (API) and consumer (worker): one payload type per job name.
 * The worker checks at startup that it has a handler for every name here.
 */
export interface JobPayloads {
  /** Train (or, in the inference phase, quantize) one run. */
  run: { runId: string; config: ExperimentConfig; baselineId: string | null };
}
export type JobName = keyof JobPayloads;

/**
 * Jobs of the maintenance queue (its own queue, so the run queue that workers and autoscalers count holds runs only):
 * scheduled by BullMQ's job schedulers, processed by the API processes, one at a time cluster-wide.
 */
export interface MaintenancePayloads {
  /** Remove finished runs older than `days` (RETENTION_DAYS). */
  retention: { days: number };
}
export type MaintenanceJobName = keyof MaintenancePayloads;
export const MAINTENANCE_JOB_NAMES = ['retention'] as const satisfies readonly MaintenanceJobName[];

/** The maintenance queue's name, next to the run queue's. */
export function maintenanceQueueName(env: Pick<Env, 'QUEUE_NAME'>): string {
  return `${env.QUEUE_NAME}-maintenance`;
}
export const JOB_NAMES = ['run'] as const satisfies readonly JobName[];
export type JobData = JobPayloads[JobName];
export type RunJobData = JobPayloads['run'];
export interface RunJobResult {
  status: 'completed' | 'failed' | 'cancelled' | 'stopped';
  testAccuracy: number | null;
}
export type RunQueue = Queue<RunJobData, RunJobResult, JobName>;

/**
 * Run ids that may be job ids: the ones this code mints (newId('run')). BullMQ keeps its own keys next to the jobs'
 * (<queue>:wait, :events, :marker, :meta, :id, :prioritized, …); a job id is part of such a key, so a run id like
 * `events` would name one of them (WRONGTYPE on delete, a stuck retention round). No BullMQ key name starts with
 * `run_`. A run with another id (imported before ids were checked) has no job, and nothing looks one up for it.
 */
export const JOB_RUN_ID = /^run_[A-Za-z0-9_-]{1,60}$/;
export function jobIdOfRun(runId: string): string | null {
  return JOB_RUN_ID.test(runId) ? runId : null;
}

/** The run's job, if it can have one (jobIdOfRun) and has one. */
export async function getRunJob(queue: Pick<RunQueue, 'getJob'>, runId: string): Promise<Awaited<ReturnType<RunQueue['getJob']>> | undefined> {
  const jobId = jobIdOfRun(runId);
  return jobId ? queue.getJob(jobId) : undefined;
}

/**
 * The one place a run's job is built from its document: job id = run id (so a retried add cannot queue a run twice),
 * the config, the baseline only where the worker uses it (inference phase), and the config's priority.
 */
export function runJob(doc: Pick<RunDocument, 'id' | 'config' | 'baselineId'>, opts: { delay?: number } = {}) {
  if (!jobIdOfRun(doc.id)) throw new Error(`run id ${doc.id} cannot be a job id (run_… only)`);
  return {
    name: 'run' as const,
    data: { runId: doc.id, config: doc.config, baselineId: doc.config.phase === 'inference' ? doc.baselineId : null } satisfies RunJobData,
    opts: { jobId: doc.id, priority: doc.config.priority, ...opts },
  };
}

/** BullMQ's keys live under the project's prefix, so one SCAN finds everything quantlab wrote. */
export function bullPrefix(env: Pick<Env, 'KEY_PREFIX'>): string {
  return `${env.KEY_PREFIX}:bull`;
}

/** BullMQ's lock key for a job: the fence that every write of a running job checks. */
export function lockKeyOf(env: Pick<Env, 'KEY_PREFIX' | 'QUEUE_NAME'>, jobId: string): string {
  return `${bullPrefix(env)}:${env.QUEUE_NAME}:${jobId}:lock`;
}

/** How long a producer waits for one Redis command before giving up (REDIS_COMMAND_TIMEOUT_MS). */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2_000;

/**
 * Producers fail fast: a request should get an error, not hang, while Redis is away (refused connections) or hung
 * (a stopped process keeps TCP up and answers nothing: only a command timeout ends the wait).
 */
export function producerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, connectTimeout: 5_000, commandTimeout: DEFAULT_REDIS_COMMAND_TIMEOUT_MS, ...extra });
}

/** Workers wait for Redis to come back: BullMQ requires maxRetriesPerRequest null for blocking commands. */
export function workerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...extra });
}

/** Transient failures (a dead training thread, Redis away) retry with exponential backoff; the last attempt fails the run. */
export const RUN_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: { count: 1_000 },
  removeOnFail: { count: 5_000 },
} as const;

/** What a job's data becomes when the stored JSON does not parse (written by hand, or a foreign producer). */
export interface UnreadableJobData {
  unreadable: string;
}
export function isUnreadableJobData(data: unknown): data is UnreadableJobData {
  return !!data && typeof data === 'object' && typeof (data as UnreadableJobData).unreadable === 'string';
}

/**
 * BullMQ's Job, except that data which is not JSON does not throw where BullMQ reads the job (Job.fromJSON): it
 * becomes { unreadable: reason }. Otherwise a worker that takes such a job throws before the job reaches any handler,
 * never renews its lock, and the job stalls and comes back forever; and getJob() throws, so cancel and delete fail.
 */
export class TolerantJob<T = unknown, R = unknown, N extends string = string> extends Job<T, R, N> {
  static override fromJSON<T = unknown, R = unknown, N extends string = string>(queue: Parameters<typeof Job.fromJSON>[0], json: JobJson, jobId?: string): Job<T, R, N> {
    try {
      return super.fromJSON<T, R, N>(queue, json, jobId);
    } catch (e) {
      const unreadable: UnreadableJobData = { unreadable: `job data is not valid JSON (${(e as Error).message})` };
      return super.fromJSON<T, R, N>(queue, { ...json, data: JSON.stringify(unreadable) }, jobId);
    }
  }
}

class RunQueueImpl extends Queue<RunJobData, RunJobResult, JobName> {
  override get Job(): typeof Job {
    return TolerantJob as unknown as typeof Job;
  }
}

/** The worker side of the run queue, reading jobs with TolerantJob. */
export class RunWorker extends Worker<RunJobData, RunJobResult, JobName> {
  constructor(name: string, processor: Processor<RunJobData, RunJobResult, JobName>, opts: WorkerOptions) {
    super(name, processor, opts);
  }
  override get Job(): typeof Job {
    return TolerantJob as unknown as typeof Job;
  }
}

export function createRunQueue(env: Pick<Env, 'KEY_PREFIX' | 'QUEUE_NAME'>, connection: ConnectionOptions): RunQueue {
  return new RunQueueImpl(env.QUEUE_NAME, {
    connection,
    prefix: bullPrefix(env),
    defaultJobOptions: RUN_JOB_OPTIONS,
  });
}
