// The worker process: `node --import tsx services/worker/src/main.ts` or `quantlab work`.
import { loadEnvOrExit } from '@quantlab/shared';
import { startWorker } from './worker.ts';

const env = loadEnvOrExit();
const worker = await startWorker(env).catch((e: Error) => {
  process.stderr.write(`quantlab worker: ${e.message.split('\n')[0]}\n`);
  process.exit(1);
});

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  // close() is bounded by SHUTDOWN_TIMEOUT_MS; this is the backstop should Redis hang the last steps.
  setTimeout(() => process.exit(1), env.SHUTDOWN_TIMEOUT_MS + 5_000).unref();
  worker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
