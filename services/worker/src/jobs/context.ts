import type { Env, RunStore, StoppingStore, WorkerRegistration } from '@quantlab/shared';
import type { Logger } from '../log.ts';
import type { WorkerMetrics } from '../metrics.ts';
import type { StopFlag, ThreadRuntime, Trainer } from '../training/pool.ts';

/** What a job handler needs from the worker that runs it. */
export interface WorkerContext {
  env: Env;
  workerId: string;
  /** The training threads' backend and TF.js version (from their ready message). */
  runtime: ThreadRuntime;
  store: RunStore;
  /** Early stopping inside sweeps: records each epoch's accuracy and decides, in Redis. */
  stopping: StoppingStore;
  pool: Trainer;
  registry: WorkerRegistration;
  log: Logger;
  metrics: WorkerMetrics;
  /** Stop flags of the runs in progress, by job id: shutdown sets them all. */
  running: Map<string, StopFlag>;
  isClosing(): boolean;
}
