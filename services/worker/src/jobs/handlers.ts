import type { Job } from 'bullmq';
import { JOB_NAMES, type JobName, type JobPayloads, type RunJobResult } from '@quantlab/shared';
import type { WorkerContext } from './context.ts';
import { processRun } from './run.ts';

export type JobHandler<N extends JobName> = (job: Job<JobPayloads[N], RunJobResult, N>, token: string) => Promise<RunJobResult>;
export type JobHandlers = { [N in JobName]: JobHandler<N> };

/** One handler per job name of the contract (queue.ts); a name without a handler is caught at startup, not at run time. */
export function createHandlers(ctx: WorkerContext): JobHandlers {
  return {
    run: (job, token) => processRun(ctx, job, token),
  };
}

export function checkHandlers(handlers: Partial<Record<string, unknown>>): void {
  const missing = JOB_NAMES.filter((n) => typeof handlers[n] !== 'function');
  if (missing.length) throw new Error(`the worker has no handler for job name(s): ${missing.join(', ')}`);
}
