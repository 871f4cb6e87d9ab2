import { z } from 'zod';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalPositive = z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().positive().optional());

/** Every environment variable quantlab reads, in one place. */
export const Env = z.object({
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  /** Namespace of every key quantlab writes; tests use their own. */
  KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, 'letters, digits, : _ - only').default('quantlab'),
  QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ - only').default('quantlab-runs'),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATA_DIR: z.string().default('./data'),
  API_TOKEN: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(8, 'must be at least 8 characters').optional()),
  WORKER_CONCURRENCY: positiveInt(1),
  TFJS_BACKEND: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  /** BullMQ lock and stall detection; tests shorten them. */
  LOCK_DURATION_MS: positiveInt(30_000),
  STALLED_INTERVAL_MS: positiveInt(30_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt(20_000),
  RATE_LIMIT_MAX: z.coerce.number().int().min(0).default(120),
  RATE_LIMIT_WINDOW_MS: positiveInt(60_000),
  BODY_LIMIT_BYTES: positiveInt(256 * 1024),
  CORS_ORIGIN: z.string().default(''),
  RETENTION_DAYS: optionalPositive,
  /** Runs one sweep may queue (baselines included); a random search may draw at most this many samples. */
  MAX_SWEEP_RUNS: positiveInt(500),
  /** A worker serves Prometheus metrics on METRICS_HOST:METRICS_PORT/metrics (unset: not served; 0: any free port). */
  METRICS_PORT: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(65535).optional()),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Bull Board at /admin/queues may retry, promote and remove jobs (default: it only shows them). */
  ADMIN_QUEUES_WRITE: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
  /** How often the retention round runs (one round per interval cluster-wide, whatever the number of API processes). */
  RETENTION_EVERY_MS: positiveInt(60 * 60 * 1000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type Env = z.infer<typeof Env>;

export class ConfigError extends Error {}

/** Parses the environment; throws ConfigError with one line naming the variable and the problem. */
export function parseEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const r = Env.safeParse(source);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  throw new ConfigError(`invalid environment: ${first.path.join('.')}: ${first.message}`);
}

/** For entry points: a bad value stops the process with one line and exit code 2. */
export function loadEnvOrExit(source: NodeJS.ProcessEnv = process.env): Env {
  try {
    return parseEnv(source);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`quantlab: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
