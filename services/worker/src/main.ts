// The worker process: `node --import tsx services/worker/src/main.ts` or `quantlab work`.
import { loadEnvOrExit } from '@quantlab/shared';
import { startWorker, type RunningWorker } from './worker.ts';

const env = loadEnvOrExit();

// Signal handlers go in before the worker starts: it is visible in the registry (and may take a job) before
// startWorker resolves, and a SIGTERM in that window must still shut it down gracefully.
let worker: RunningWorker | null = null;
let stopping = false;
function stop(): void {
  stopping = true;
  if (!worker) return; // stopped as soon as it has started
  // close() is bounded by SHUTDOWN_TIMEOUT_MS; this is the backstop should Redis hang the last steps.
  setTimeout(() => process.exit(1), env.SHUTDOWN_TIMEOUT_MS + 5_000).unref();
  worker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

worker = await startWorker(env).catch((e: Error) => {
  process.stderr.write(`quantlab worker: ${e.message.split('\n')[0]}\n`);
  process.exit(1);
});
if (stopping) stop();
