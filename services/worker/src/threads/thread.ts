// A long-lived training thread: one per concurrency slot, so the datasets it loads stay cached between runs.
import { parentPort, workerData } from 'node:worker_threads';
import { version_core as tfVersion } from '@tensorflow/tfjs';
import { BackendError, selectBackend, type BackendChoice } from '@quantlab/ml/backend/index';
import { RunInputError, type TrainHooks } from '@quantlab/ml/training/types';
import { trainExperiment } from '@quantlab/ml/training/train';
import { EPOCH_DONE_SLOT, STOP_REASONS, STOP_SLOT, type FromThread, type ToThread } from './protocol.ts';

const port = parentPort!;
const { backend, threads, batchGate } = workerData as { backend: BackendChoice; threads: number; batchGate: SharedArrayBuffer | null };
// Test hook (ThreadTestHooks.batchGate): hold this thread at a batch boundary while the gate reads 1.
const gate = batchGate ? new Int32Array(batchGate) : null;
const post = (m: FromThread) => port.postMessage(m);

try {
  const selection = await selectBackend(backend, { threads });
  post({ type: 'ready', backend: selection.name, reason: selection.reason, tfjsVersion: tfVersion });
} catch (e) {
  post({ type: 'init-error', message: (e as Error).message });
}

port.on('message', (msg: ToThread) => {
  if (msg.type !== 'train') return;
  const stop = new Int32Array(msg.stop);
  const hooks: TrainHooks = {
    onProgress: (progress) => post({ type: 'progress', progress }),
    onEpoch: (epoch, checkpoint) => {
      if (gate && gate.length > 1 && gate[1] > 0 && epoch.epoch >= gate[1]) Atomics.store(gate, 0, 1);
      post({ type: 'epoch', epoch, checkpoint });
      // Wait until the main thread has stored and judged this epoch (or a stop is set): nothing else to do meanwhile.
      for (let seen = Atomics.load(stop, EPOCH_DONE_SLOT); seen < epoch.epoch && Atomics.load(stop, STOP_SLOT) === 0; seen = Atomics.load(stop, EPOCH_DONE_SLOT)) {
        Atomics.wait(stop, EPOCH_DONE_SLOT, seen, 1000);
      }
    },
    shouldStop: () => {
      if (gate) Atomics.wait(gate, 0, 1);
      return STOP_REASONS[Atomics.load(stop, STOP_SLOT)] ?? null;
    },
  };
  trainExperiment(msg.input, hooks).then(
    (outcome) => post({ type: 'done', outcome }),
    (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      post({ type: 'error', message: err.message, inputError: err instanceof RunInputError || err instanceof BackendError });
    },
  );
});
