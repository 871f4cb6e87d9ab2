import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ARTIFACT_FORMAT, ExperimentConfig, FenceLostError, isUploadedModel, lockKeyOf, type Fence, type RunDocument, type RunJobData, type RunJobResult, type StopDecision } from '@quantlab/shared';
import type { TrainOutcome, UploadedModel } from '@quantlab/ml/training/types';
import { provenanceOf } from '@quantlab/ml/training/provenance';
import { StopFlag, TrainInputFailure } from '../threads/pool.ts';
import type { WorkerContext } from './context.ts';

/** How long an inference-phase run waits before looking at its baseline again. */
export const BASELINE_RECHECK_MS = 2_000;
/** How often the main thread looks for a cancel request (the API sets the run's cancelRequested field). */
export const CANCEL_POLL_MS = 500;
/** Progress writes at most this often; epochs are always written. */
const PROGRESS_EVERY_MS = 1_000;

const now = () => new Date().toISOString();

/**
 * The lifecycle of one run: queued -> running -> completed | failed | cancelled | stopped, or back to queued when this worker
 * shuts down (the run resumes elsewhere from its last checkpoint). Every write while the job runs is fenced by the
 * job's lock token, so a worker that lost the job cannot write into a run another worker now owns.
 */
export async function processRun(ctx: WorkerContext, job: Job<RunJobData>, token: string): Promise<RunJobResult> {
  const { store, env, log } = ctx;
  const runId = job.data.runId;
  const fence: Fence = { lockKey: lockKeyOf(env, job.id!), token };

  const doc = await store.get(runId);
  if (!doc) throw new UnrecoverableError(`run ${runId} no longer exists`);
  // Already finished (a job delivered again after its run was written): nothing to do, and nothing to overwrite.
  if (doc.status === 'completed' || doc.status === 'failed' || doc.status === 'cancelled' || doc.status === 'stopped') {
    return { status: doc.status, testAccuracy: doc.metrics.testAccuracy };
  }
  if (await cancelRequested(ctx, runId)) {
    await store.update(runId, { status: 'cancelled', finishedAt: now() }, fence, { type: 'status', runId, status: 'cancelled' });
    return { status: 'cancelled', testAccuracy: null };
  }

  // Stopped by the sweep's rule before a restart (the decision is kept in Redis): it ends now, keeping its epochs.
  const judged = doc.stopping && doc.sweepId ? { id: runId, sweepId: doc.sweepId, stopping: doc.stopping, epochs: doc.config.training.epochs } : null;
  const earlier = judged ? await ctx.stopping.decisionOf(judged.sweepId, runId) : null;
  if (earlier) {
    const last = doc.epochs[doc.epochs.length - 1];
    await store.update(runId, { status: 'stopped', stopped: earlier, metrics: { ...doc.metrics, testAccuracy: last?.testAccuracy ?? null }, finishedAt: now() }, fence, { type: 'status', runId, status: 'stopped' });
    return { status: 'stopped', testAccuracy: last?.testAccuracy ?? null };
  }

  const parsed = ExperimentConfig.safeParse(job.data.config);
  if (!parsed.success) return failRun(ctx, doc, fence, `invalid config: ${parsed.error.issues[0]?.message}`);
  const config = parsed.data;

  // Inference-phase runs quantize their float32 baseline's trained weights instead of training again.
  let baselineArtifact: Uint8Array | null = null;
  if (config.phase === 'inference' && job.data.baselineId) {
    const baseline = await store.get(job.data.baselineId);
    if (!baseline) return failRun(ctx, doc, fence, `baseline run ${job.data.baselineId} does not exist`);
    if (baseline.status === 'failed' || baseline.status === 'cancelled') {
      return failRun(ctx, doc, fence, `baseline run ${baseline.id} ${baseline.status}${baseline.error ? `: ${baseline.error.message}` : ''}`);
    }
    if (baseline.status !== 'completed') {
      // Not trained yet: hand the job back to the queue for a while, without spending an attempt.
      await job.moveToDelayed(Date.now() + BASELINE_RECHECK_MS, token);
      throw new DelayedError();
    }
    baselineArtifact = await store.getArtifact(baseline.id);
    if (!baselineArtifact) return failRun(ctx, doc, fence, `baseline run ${baseline.id} completed without an artifact`);
  }

  // An uploaded model is read once per attempt and handed to the training thread with the config.
  let uploadedModel: UploadedModel | null = null;
  if (isUploadedModel(config.model)) {
    const loaded = await ctx.models.load(config.model);
    if (!loaded) return failRun(ctx, doc, fence, `model ${config.model} does not exist (it was deleted after the run was queued)`);
    uploadedModel = { graph: loaded.record.graph, params: loaded.record.paramSpecs, weights: loaded.weights, classes: loaded.record.classes };
  }

  const startedAt = doc.startedAt ?? now();
  const metrics = ctx.metrics;
  const representation = config.representation;
  await store.update(
    runId,
    // Provenance (issue 9): versions, backend, host and config hash of the worker that trains it, from its start.
    { status: 'running', startedAt, workerId: ctx.workerId, attempts: doc.attempts + 1, error: null, provenance: provenanceOf(config, ctx.runtime, ctx.workerId) },
    fence,
    { type: 'status', runId, status: 'running' },
  );
  metrics.runStarted(representation);
  const resumeFrom = await store.loadCheckpoint(runId);
  if (resumeFrom) log.info('resuming run from its checkpoint', { runId, bytes: resumeFrom.length });

  const stop = new StopFlag();
  if (ctx.isClosing()) stop.set('shutdown');
  ctx.running.set(job.id!, stop);
  metrics.setBusySlots(ctx.running.size);
  await ctx.registry.update({ currentRuns: [...ctx.registry.current.currentRuns, runId] }).catch(() => {});
  const poll = setInterval(() => {
    cancelRequested(ctx, runId).then(
      (yes) => yes && stop.set('cancel'),
      () => {},
    );
  }, CANCEL_POLL_MS);
  const maxMs = config.training.maxMinutes ? config.training.maxMinutes * 60_000 : null;
  const deadline = maxMs === null ? null : setTimeout(() => stop.set('timeout'), Math.max(0, Date.parse(startedAt) + maxMs - Date.now()));

  let lastProgress = 0;
  let stopDecision: StopDecision | null = null;
  try {
    let outcome: TrainOutcome;
    try {
      outcome = await ctx.pool.train({ config, dataDir: env.DATA_DIR, resumeFrom, baselineArtifact, uploadedModel }, stop, {
        onProgress: async (p) => {
          if (Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
          lastProgress = Date.now();
          const progress = { epoch: p.epoch, epochs: p.epochs, fraction: Math.min(1, Math.max(0, p.fraction)) };
          await store.update(runId, { progress }, fence, { type: 'progress', runId, progress });
        },
        // The epoch first, then the checkpoint after it: a crash in between repeats that epoch, which rewrites the
        // same hash field (an epoch is keyed by its number), so none goes missing and none is recorded twice.
        // The sweep's stopping rule judges each epoch once, in Redis; the training thread waits for this callback
        // before the next epoch (StopFlag.epochHandled), so a stop ends the run with the epochs up to the verdict
        // (and it resumes as stopped if this worker dies first).
        onEpoch: async (epoch, checkpoint) => {
          await store.addEpoch(runId, epoch, config.training.epochs, fence);
          metrics.epoch(epoch);
          await store.saveCheckpoint(runId, checkpoint, fence);
          metrics.checkpointWritten(checkpoint.byteLength);
          if (judged) {
            const verdict = await ctx.stopping.judge(judged, epoch.epoch, epoch.testAccuracy, fence);
            if (verdict.stop) {
              stopDecision = verdict.decision;
              stop.set('stopped');
            }
          }
        },
      });
    } catch (e) {
      // Awaited here: a rejected promise returned as is would sit unhandled while the finally below awaits Redis.
      if (e instanceof TrainInputFailure) return await failRun(ctx, doc, fence, e.message);
      throw e;
    }
    return await finish(ctx, job, token, fence, doc, outcome, stopDecision);
  } catch (e) {
    if (e instanceof FenceLostError) {
      metrics.fenceRejected();
      log.warn('lost the job lock; this worker stops writing to the run', { runId });
    } else if (!(e instanceof UnrecoverableError) && !(e instanceof DelayedError)) {
      await onTransientError(ctx, job, fence, e as Error);
    }
    throw e;
  } finally {
    clearInterval(poll);
    if (deadline) clearTimeout(deadline);
    ctx.running.delete(job.id!);
    metrics.setBusySlots(ctx.running.size);
    await ctx.registry.update({ currentRuns: ctx.registry.current.currentRuns.filter((r) => r !== runId) }).catch(() => {});
  }
}

async function finish(ctx: WorkerContext, job: Job<RunJobData>, token: string, fence: Fence, doc: RunDocument, outcome: TrainOutcome, stopDecision: StopDecision | null): Promise<RunJobResult> {
  const { store } = ctx;
  const runId = doc.id;
  const epochsDone = await store.epochCount(runId);
  const epochs = doc.config.training.epochs;
  switch (outcome.status) {
    case 'completed': {
      // relativeAccuracy is not stored: the API derives it from the baseline when it reads the run.
      const metrics = outcome.metrics;
      if (outcome.artifact && outcome.artifact.byteLength > ctx.env.ARTIFACT_MAX_BYTES) {
        // One run's model must not fill Redis for everyone; the operator raises the limit for models this large.
        return failRun(ctx, doc, fence, `the packed model has ${outcome.artifact.byteLength} bytes, over ARTIFACT_MAX_BYTES = ${ctx.env.ARTIFACT_MAX_BYTES}`, { metrics, dataset: outcome.dataset });
      }
      if (outcome.artifact) await store.setArtifact(runId, outcome.artifact, fence);
      await store.update(
        runId,
        {
          status: 'completed',
          metrics,
          dataset: outcome.dataset,
          artifact: outcome.artifact ? { bytes: outcome.artifact.byteLength, format: ARTIFACT_FORMAT } : null,
          progress: { epoch: epochs, epochs, fraction: 1 },
          finishedAt: now(),
        },
        fence,
        { type: 'status', runId, status: 'completed' },
      );
      ctx.metrics.runCompleted(doc.config.representation);
      return { status: 'completed', testAccuracy: metrics.testAccuracy };
    }
    case 'cancel':
      await store.update(runId, { status: 'cancelled', metrics: outcome.metrics, dataset: outcome.dataset, finishedAt: now() }, fence, { type: 'status', runId, status: 'cancelled' });
      ctx.metrics.runStopped(doc.config.representation, 'cancel');
      return { status: 'cancelled', testAccuracy: null };
    case 'stopped':
      await store.update(runId, { status: 'stopped', stopped: stopDecision, metrics: outcome.metrics, dataset: outcome.dataset, finishedAt: now() }, fence, { type: 'status', runId, status: 'stopped' });
      ctx.metrics.runStopped(doc.config.representation, 'stopped');
      return { status: 'stopped', testAccuracy: outcome.metrics.testAccuracy };
    case 'timeout':
      return failRun(ctx, doc, fence, `time limit: training.maxMinutes = ${doc.config.training.maxMinutes} was reached after ${epochsDone} of ${epochs} epochs`, {
        metrics: outcome.metrics,
        dataset: outcome.dataset,
      });
    case 'shutdown': {
      // This worker is stopping: the run goes back to the queue and resumes elsewhere from its last checkpoint.
      // moveToDelayed (not a thrown error) so that a shutdown does not spend one of the job's attempts.
      await store.update(runId, { status: 'queued', workerId: null }, fence, { type: 'status', runId, status: 'queued' });
      await job.moveToDelayed(Date.now(), token);
      ctx.metrics.runStopped(doc.config.representation, 'shutdown');
      ctx.log.info('run handed back to the queue at shutdown', { runId, epochsDone });
      throw new DelayedError();
    }
  }
}

/** Fails a run once (config or data problem): the message goes into the run, BullMQ does not retry. */
async function failRun(ctx: WorkerContext, doc: RunDocument, fence: Fence, message: string, extra: Partial<RunDocument> = {}): Promise<never> {
  const runId = doc.id;
  const error = { message };
  await ctx.store.update(runId, { ...extra, status: 'failed', error, finishedAt: now() }, fence, { type: 'status', runId, status: 'failed', error });
  ctx.metrics.runFailed(doc.config.representation);
  throw new UnrecoverableError(message);
}

/** A transient failure (Redis away, a thread crash): BullMQ retries with backoff; the last attempt fails the run. */
async function onTransientError(ctx: WorkerContext, job: Job<RunJobData>, fence: Fence, e: Error): Promise<void> {
  const runId = job.data.runId;
  const attempts = job.opts.attempts ?? 1;
  const last = job.attemptsMade + 1 >= attempts;
  ctx.log.warn('run attempt failed', { runId, attempt: job.attemptsMade + 1, attempts, error: e.message });
  try {
    if (last) {
      const error = { message: `failed after ${attempts} attempts: ${e.message}` };
      await ctx.store.update(runId, { status: 'failed', error, finishedAt: now() }, fence, { type: 'status', runId, status: 'failed', error });
      ctx.metrics.runFailed(job.data.config.representation);
    } else {
      await ctx.store.update(runId, { status: 'queued', workerId: null }, fence, { type: 'status', runId, status: 'queued' });
    }
  } catch {
    // Redis itself may be what failed; the retry (or the stalled-job check) picks the run up again.
  }
}

function cancelRequested(ctx: WorkerContext, runId: string): Promise<boolean> {
  return ctx.store.isCancelRequested(runId);
}
