import type { Env, ModelStore, RunStore, StoppingStore, WorkerRegistration } from '@quantlab/shared';
import type { Logger } from '../log.ts';
import type { WorkerMetrics } from '../metrics.ts';
import type { StopFlag, ThreadRuntime, Trainer } from '../threads/pool.ts';

/** The part of RunStore a job handler uses: its own run's document, fenced writes, artifacts and checkpoints. */
export type RunWriter = Pick<
  RunStore,
  'get' | 'update' | 'addEpoch' | 'failIfUnfinished' | 'isCancelRequested' | 'epochCount' | 'setArtifact' | 'getArtifact' | 'saveCheckpoint' | 'loadCheckpoint'
>;

/** What a job handler needs from the worker that runs it (narrow, so the fast tests hand in fakes). */
export interface WorkerContext {
  env: Env;
  workerId: string;
  /** The training threads' backend and TF.js version (from their ready message). */
  runtime: ThreadRuntime;
  store: RunWriter;
  /** Uploaded models: a run whose config names one reads it (record and weights) here. */
  models: Pick<ModelStore, 'load'>;
  /** Early stopping inside sweeps: records each epoch's accuracy and decides, in Redis. */
  stopping: StoppingStore;
  pool: Trainer;
  registry: Pick<WorkerRegistration, 'current' | 'update'>;
  log: Logger;
  metrics: WorkerMetrics;
  /** Stop flags of the runs in progress, by job id: shutdown sets them all. */
  running: Map<string, StopFlag>;
  isClosing(): boolean;
}
