import { Queue, type ConnectionOptions } from 'bullmq';
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
 * The one place a run's job is built from its document: job id = run id (so a retried add cannot queue a run twice),
 * the config, the baseline only where the worker uses it (inference phase), and the config's priority.
 */
export function runJob(doc: Pick<RunDocument, 'id' | 'config' | 'baselineId'>, opts: { delay?: number } = {}) {
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

/** Producers fail fast: a request should get an error, not hang, while Redis is away. */
export function producerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, connectTimeout: 5_000, ...extra });
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

export function createRunQueue(env: Pick<Env, 'KEY_PREFIX' | 'QUEUE_NAME'>, connection: ConnectionOptions): RunQueue {
  return new Queue<RunJobData, RunJobResult, JobName>(env.QUEUE_NAME, {
    connection,
    prefix: bullPrefix(env),
    defaultJobOptions: RUN_JOB_OPTIONS,
  });
}
