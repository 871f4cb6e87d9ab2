import { UnrecoverableError, type Job } from 'bullmq';
import { isUnreadableJobData, RunId, type RunJobData } from '@quantlab/shared';
import type { WorkerContext } from './context.ts';

/**
 * Refuses a job whose data is not a run job (unreadable JSON, no run id) before any handler sees it: BullMQ fails it
 * once, without retries, and onJobFailed ends its run failed.
 */
export function checkJobData(job: Job<RunJobData>): void {
  const data: unknown = job.data;
  if (isUnreadableJobData(data)) throw new UnrecoverableError(data.unreadable);
  if (!data || typeof data !== 'object' || !RunId.safeParse((data as RunJobData).runId).success) {
    throw new UnrecoverableError('job data is not a run job (no valid runId)');
  }
}

/**
 * After BullMQ failed a job for good (job.finishedOn set; a failed attempt that will be retried is left alone): the run
 * ends failed with the reason, unless it already finished. Its sweep then counts it, and inference runs waiting for it as
 * their baseline fail instead of waiting forever.
 */
export async function onJobFailed(ctx: WorkerContext, job: Job<RunJobData>, err: Error): Promise<void> {
  if (!job.finishedOn) return;
  const data: unknown = job.data;
  const fromData = data && typeof data === 'object' ? (data as Partial<RunJobData>).runId : undefined;
  // The job id is the run id; unreadable data has no runId of its own.
  const runId = typeof fromData === 'string' && RunId.safeParse(fromData).success ? fromData : job.id;
  if (!runId) return;
  const reason = job.failedReason || err.message;
  try {
    if (await ctx.store.failIfUnfinished(runId, `the job failed: ${reason}`)) {
      ctx.log.warn('run failed by the queue', { runId, reason });
    }
  } catch (e) {
    ctx.log.warn('could not mark the failed run', { runId, error: (e as Error).message });
  }
}
