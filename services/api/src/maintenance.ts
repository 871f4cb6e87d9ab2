import { Queue, Worker, type Job } from 'bullmq';
import { bullPrefix, maintenanceQueueName, MAINTENANCE_JOB_NAMES, workerConnection, type Env, type MaintenanceJobName, type MaintenancePayloads } from '@quantlab/shared';
import type { ServiceDeps } from './services/deps.ts';
import { applyRetention, type RetentionResult } from './services/lifecycle/retention.ts';

const RETENTION_SCHEDULER = 'retention';

type Handlers = { [N in MaintenanceJobName]: (job: Job<MaintenancePayloads[N]>) => Promise<unknown> };

export interface Maintenance {
  close(): Promise<void>;
}

export interface MaintenanceHooks {
  onRetention?(r: RetentionResult, job: { id: string }): void;
  onError?(err: Error): void;
}

/**
 * Maintenance as scheduled jobs on a queue of its own. With RETENTION_DAYS set, this process (re)declares the
 * retention job scheduler (an upsert: every API process declares the same entry, BullMQ keeps one) and takes
 * maintenance jobs, one at a time; BullMQ hands each scheduled job to exactly one process, so a round runs once per
 * interval cluster-wide. Without RETENTION_DAYS nothing is started: such a process neither schedules nor runs rounds.
 */
export async function startMaintenance(deps: ServiceDeps, env: Env, hooks: MaintenanceHooks = {}): Promise<Maintenance | null> {
  if (!env.RETENTION_DAYS) return null;
  const name = maintenanceQueueName(env);
  const prefix = bullPrefix(env);
  const queueConnection = workerConnection(env.REDIS_URL);
  const workerConn = workerConnection(env.REDIS_URL);
  for (const c of [queueConnection, workerConn]) c.on('error', (err) => hooks.onError?.(err));
  const queue = new Queue<MaintenancePayloads[MaintenanceJobName], unknown, MaintenanceJobName>(name, { connection: queueConnection, prefix });
  queue.on('error', (err) => hooks.onError?.(err));

  const handlers: Handlers = {
    retention: async (job) => {
      const r = await applyRetention(deps, { days: job.data.days });
      hooks.onRetention?.(r, { id: job.id! });
      return { removed: r.removed.length, removedSweeps: r.removedSweeps.length, kept: r.kept.length };
    },
  };
  const missing = MAINTENANCE_JOB_NAMES.filter((n) => typeof handlers[n] !== 'function');
  if (missing.length) throw new Error(`no maintenance handler for: ${missing.join(', ')}`);

  const worker = new Worker<MaintenancePayloads[MaintenanceJobName], unknown, MaintenanceJobName>(
    name,
    async (job) => {
      const handler = handlers[job.name] as (j: Job) => Promise<unknown>;
      if (!handler) throw new Error(`no maintenance handler for "${job.name}"`);
      return handler(job);
    },
    { connection: workerConn, prefix, concurrency: 1 },
  );
  worker.on('error', (err) => hooks.onError?.(err));
  worker.on('failed', (_job, err) => hooks.onError?.(err));
  await worker.waitUntilReady();
  // The first round runs at once, then every RETENTION_EVERY_MS; the payload carries the setting of the process that
  // declared the scheduler last.
  await queue.upsertJobScheduler(
    RETENTION_SCHEDULER,
    { every: env.RETENTION_EVERY_MS },
    { name: 'retention', data: { days: env.RETENTION_DAYS }, opts: { removeOnComplete: 100, removeOnFail: 100 } },
  );

  return {
    async close() {
      await worker.close().catch(() => {});
      await queue.close().catch(() => {});
      await Promise.all([queueConnection, workerConn].map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
