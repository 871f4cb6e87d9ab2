import { Worker } from 'node:worker_threads';
import type { EpochMetrics } from '@quantlab/shared';
import type { StopReason, TrainInput, TrainOutcome, TrainProgress } from '@quantlab/ml/training/types';
import type { BackendChoice } from '@quantlab/ml/backend/index';
import { EPOCH_DONE_SLOT, STOP_CODES, STOP_SLOT, type FromThread, type ToThread } from './protocol.ts';

export interface TrainCallbacks {
  onProgress(p: TrainProgress): Promise<void>;
  onEpoch(epoch: EpochMetrics, checkpoint: Uint8Array): Promise<void>;
}

/** What each training thread loads: TFJS_BACKEND and NATIVE_THREADS. */
export interface BackendSpec {
  backend: BackendChoice;
  threads: number;
}

/** A config or data problem reported by the training thread: the run fails once, no retry. */
export class TrainInputFailure extends Error {}

/** The stop flag of one run, shared with its training thread. */
export class StopFlag {
  readonly buffer = new SharedArrayBuffer(8);
  private readonly view = new Int32Array(this.buffer);

  /** The first reason wins: a cancel is not turned into a shutdown, nor the other way round. */
  set(reason: StopReason): void {
    Atomics.compareExchange(this.view, STOP_SLOT, 0, STOP_CODES[reason]);
    // A thread waiting for an epoch's handling wakes to see the stop.
    Atomics.notify(this.view, EPOCH_DONE_SLOT);
  }
  get isSet(): boolean {
    return Atomics.load(this.view, STOP_SLOT) !== 0;
  }
  /** The main thread has handled `epoch` (whatever the outcome): its training thread may go on. */
  epochHandled(epoch: number): void {
    Atomics.store(this.view, EPOCH_DONE_SLOT, epoch);
    Atomics.notify(this.view, EPOCH_DONE_SLOT);
  }
}

/** Test hooks of the training threads (tests only; production passes none). */
export interface ThreadTestHooks {
  /**
   * Int32 slots. [0]: while it holds 1, a training thread stops at its next batch boundary and waits there, as if that
   * batch took as long as the test wants (the forced-stop test, independent of how fast batches really are).
   * [1], when the buffer has it and it is above 0: the thread sets [0] to 1 itself once it has finished that epoch, so
   * a test can stop a run just after a given epoch however fast or slow the machine is.
   */
  batchGate?: SharedArrayBuffer;
}

/** What a training thread reports once its backend is loaded. */
export interface ThreadRuntime {
  backend: string;
  /** Why this backend and not a faster one (the start-up line). */
  backendReason?: string;
  tfjsVersion: string;
}

/** One long-lived training thread; it dies with the process, so it can never outlive a killed worker. */
class TrainingThread {
  readonly ready: Promise<ThreadRuntime>;
  private worker: Worker;
  private current: { onMessage(m: FromThread): void; onDeath(e: Error): void } | null = null;

  constructor(backend: BackendSpec, hooks: ThreadTestHooks = {}) {
    this.worker = new Worker(new URL('./thread-boot.mjs', import.meta.url), { workerData: { ...backend, batchGate: hooks.batchGate ?? null } });
    this.ready = new Promise((resolve, reject) => {
      const first = (m: FromThread) => {
        if (m.type === 'ready') resolve({ backend: m.backend, backendReason: m.reason, tfjsVersion: m.tfjsVersion });
        else if (m.type === 'init-error') reject(new Error(m.message));
        else return;
        this.worker.off('message', first);
      };
      this.worker.on('message', first);
      this.worker.once('error', reject);
    });
    this.ready.catch(() => {});
    this.worker.on('message', (m: FromThread) => this.current?.onMessage(m));
    this.worker.on('error', (e) => this.current?.onDeath(e));
    this.worker.on('exit', (code) => {
      this.dead = true;
      this.current?.onDeath(new Error(`the training thread exited (code ${code})`));
    });
  }

  get busy(): boolean {
    return this.current !== null;
  }

  /**
   * Runs one training. Messages are handled one after another, in order; if a callback throws (for instance the
   * fence was lost), the run is stopped at its next batch and the promise rejects with that error once the thread
   * is free again.
   */
  train(input: TrainInput, stop: StopFlag, cb: TrainCallbacks): Promise<TrainOutcome> {
    return new Promise<TrainOutcome>((resolve, reject) => {
      let chain: Promise<void> = Promise.resolve();
      let failure: Error | null = null;
      const step = (fn: () => Promise<void>, then?: () => void) => {
        chain = chain.then(async () => {
          try {
            if (!failure) await fn();
          } catch (e) {
            failure = e as Error;
            stop.set('shutdown');
          } finally {
            then?.();
          }
        });
      };
      const finish = (fn: () => void) => {
        this.current = null;
        void chain.then(() => (failure ? reject(failure) : fn()));
      };
      this.current = {
        onMessage: (m) => {
          if (m.type === 'progress') step(() => cb.onProgress(m.progress));
          else if (m.type === 'epoch') step(() => cb.onEpoch(m.epoch, m.checkpoint), () => stop.epochHandled(m.epoch.epoch));
          else if (m.type === 'done') finish(() => resolve(m.outcome));
          else if (m.type === 'error') finish(() => reject(m.inputError ? new TrainInputFailure(m.message) : new Error(m.message)));
        },
        onDeath: (e) => finish(() => reject(e)),
      };
      const msg: ToThread = { type: 'train', input, stop: stop.buffer };
      this.worker.postMessage(msg);
    });
  }

  dead = false;

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** What a worker needs from its training threads; benches substitute a simulated pool (bench/redis-scale.ts). */
export interface Trainer {
  ready(): Promise<ThreadRuntime>;
  train(input: TrainInput, stop: StopFlag, cb: TrainCallbacks): Promise<TrainOutcome>;
  close(): Promise<void>;
}

/** One training thread per concurrency slot. */
export class TrainingPool implements Trainer {
  private threads: TrainingThread[];

  constructor(
    size: number,
    private readonly backend: BackendSpec,
    private readonly hooks: ThreadTestHooks = {},
  ) {
    this.threads = Array.from({ length: size }, () => new TrainingThread(backend, hooks));
  }

  /** The backend the threads loaded and their TF.js version; rejects when a thread cannot load it (TFJS_BACKEND=native without the addon). */
  async ready(): Promise<ThreadRuntime> {
    const all = await Promise.all(this.threads.map((t) => t.ready));
    return all[0];
  }

  /** BullMQ's concurrency equals the pool size, so a free thread exists whenever a job starts. */
  async train(input: TrainInput, stop: StopFlag, cb: TrainCallbacks): Promise<TrainOutcome> {
    const i = this.threads.findIndex((t) => !t.busy);
    if (i < 0) throw new Error('no free training thread (concurrency and pool size disagree)');
    const thread = this.threads[i];
    try {
      return await thread.train(input, stop, cb);
    } finally {
      // A thread that died (out of memory, a crash in native code) is replaced for the next run.
      if (thread.dead) {
        this.threads[i] = new TrainingThread(this.backend, this.hooks);
        this.threads[i].ready.catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}
