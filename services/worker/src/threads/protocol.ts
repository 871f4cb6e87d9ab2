import type { EpochMetrics } from '@quantlab/shared';
import type { StopReason, TrainInput, TrainOutcome, TrainProgress } from '@quantlab/ml/training/types';

/**
 * Messages between the worker's main thread and a training thread. Training blocks its thread's event loop; the
 * main thread stays free to renew BullMQ's lock, poll for cancel and write to Redis.
 */

/**
 * The run's shared Int32 slots. [0], the stop flag: read by the training loop every batch. [1], the last epoch the
 * main thread has handled (stored, checkpointed, judged by the sweep's stopping rule): the training thread waits for it
 * before it trains the next epoch, so a verdict on epoch N applies before epoch N+1 on any machine, and a thread never
 * runs ahead of what Redis holds.
 */
export const STOP_SLOT = 0;
export const EPOCH_DONE_SLOT = 1;
export const STOP_CODES: Record<StopReason, number> = { cancel: 1, shutdown: 2, timeout: 3, stopped: 4 };
export const STOP_REASONS: Record<number, StopReason> = { 1: 'cancel', 2: 'shutdown', 3: 'timeout', 4: 'stopped' };

export type ToThread = { type: 'train'; input: TrainInput; stop: SharedArrayBuffer };

export type FromThread =
  /** tfjsVersion: so the main thread can record provenance without loading TF.js itself. */
  | { type: 'ready'; backend: string; reason: string; tfjsVersion: string }
  | { type: 'init-error'; message: string }
  | { type: 'progress'; progress: TrainProgress }
  | { type: 'epoch'; epoch: EpochMetrics; checkpoint: Uint8Array }
  | { type: 'done'; outcome: TrainOutcome }
  /** inputError: a config or data problem (RunInputError) that no retry can fix. */
  | { type: 'error'; message: string; inputError: boolean };
