import { parseArgs } from 'node:util';
import { ConfigError, parseEnv } from '@quantlab/shared';
import { startWorker } from '@quantlab/worker';
import { CliError } from '../cli-error.ts';

const HELP = `usage: quantlab work [--concurrency N] [--threads N]
Runs a worker that trains queued runs from the Redis at REDIS_URL (default redis://127.0.0.1:6379) until SIGTERM or
Ctrl-C, which hand the run in progress back to the queue (it resumes elsewhere from its last checkpoint).
  --concurrency N   runs trained at once, one training thread each (default WORKER_CONCURRENCY, 1);
                    with the wasm backend one run uses one core, so N = cores per machine is the ceiling
  --threads N       oneDNN threads per run with the native kernels (default NATIVE_THREADS, 1); for a machine that
                    runs fewer worker processes than it has cores
Settings come from the environment: REDIS_URL, KEY_PREFIX, QUEUE_NAME, DATA_DIR, TFJS_BACKEND, NATIVE_THREADS, LOCK_DURATION_MS,
STALLED_INTERVAL_MS, SHUTDOWN_TIMEOUT_MS (see docs/OPERATIONS.md).`;

export async function run(argv: string[]): Promise<number> {
  const { values } = (() => {
    try {
      return parseArgs({ args: argv, options: { concurrency: { type: 'string', short: 'c' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
    } catch (e) {
      throw new CliError((e as Error).message, 2);
    }
  })();
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const source = { ...process.env };
  if (values.concurrency !== undefined) {
    if (!/^[1-9]\d*$/.test(values.concurrency)) throw new CliError(`--concurrency must be a positive integer, not "${values.concurrency}"`, 2);
    source.WORKER_CONCURRENCY = values.concurrency;
  }
  if (values.threads !== undefined) {
    if (!/^[1-9]\d*$/.test(values.threads)) throw new CliError(`--threads must be a positive integer, not "${values.threads}"`, 2);
    source.NATIVE_THREADS = values.threads;
  }
  let env;
  try {
    env = parseEnv(source);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message, 2);
    throw e;
  }
  // Signal handlers go in before the worker starts: it registers (and may take a job) before startWorker resolves.
  let stopRequested = false;
  let onStop = () => void (stopRequested = true);
  const signal = () => onStop();
  process.on('SIGTERM', signal);
  process.on('SIGINT', signal);
  const worker = await startWorker(env);
  process.stderr.write(`quantlab: backend ${worker.runtime.backend}${worker.runtime.backendReason ? ` (${worker.runtime.backendReason})` : ''}\n`);
  process.stderr.write(`quantlab: worker ${worker.id} is training runs from ${env.REDIS_URL} (concurrency ${env.WORKER_CONCURRENCY}); Ctrl-C stops it\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    onStop = () => {
      if (stopping) return;
      stopping = true;
      setTimeout(() => resolve(1), env.SHUTDOWN_TIMEOUT_MS + 5_000).unref();
      worker.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    if (stopRequested) onStop();
  });
}
