import { z } from 'zod';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = z.preprocess((v) => (v === undefined || v === '' ? '0' : v), z.enum(['0', '1', 'true', 'false'])).transform((v) => v === '1' || v === 'true');
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
  API_TOKEN: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(16, 'must be at least 16 characters').optional()),
  /** Without API_TOKEN the API only listens on a loopback address, unless this is 1 (an explicit choice to run open). */
  ALLOW_NO_AUTH: flag,
  /** Failed authentications per client and RATE_LIMIT_WINDOW_MS; over it, requests without a valid token get 429. */
  AUTH_FAIL_MAX: z.coerce.number().int().min(1).default(20),
  WORKER_CONCURRENCY: positiveInt(1),
  /** auto: tfjs-node, else wasm with the oneDNN kernels (wasm+onednn), else plain wasm; the others force one. */
  TFJS_BACKEND: z.enum(['auto', 'tensorflow', 'native', 'wasm', 'cpu']).default('auto'),
  /** oneDNN threads per training thread (wasm+onednn). One, as one worker process per core is the rule; more for a machine running fewer processes than cores. */
  NATIVE_THREADS: z.coerce.number().int().positive().max(256).default(1),
  /** BullMQ lock and stall detection; tests shorten them. */
  LOCK_DURATION_MS: positiveInt(30_000),
  STALLED_INTERVAL_MS: positiveInt(30_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt(20_000),
  RATE_LIMIT_MAX: z.coerce.number().int().min(0).default(120),
  RATE_LIMIT_WINDOW_MS: positiveInt(60_000),
  /** Reads (GET) per client and window; 0 = no limit on reads. /healthz is never limited. */
  RATE_LIMIT_READ_MAX: z.coerce.number().int().min(0).default(0),
  /**
   * Which proxies' X-Forwarded-For to believe for the client address (rate limits, logs): '' = none (the socket's
   * peer is the client), 'true' = any, a number = that many hops, or a comma-separated list of addresses/CIDRs.
   */
  TRUST_PROXY: z
    .string()
    .default('')
    .transform((v): boolean | number | string[] => {
      const t = v.trim();
      if (t === '' || t === 'false') return false;
      if (t === 'true') return true;
      if (/^\d+$/.test(t)) return Number(t);
      return t.split(',').map((s) => s.trim()).filter(Boolean);
    }),
  /** Every Redis command the API sends gives up after this long (a hung Redis answers 503, not never). */
  REDIS_COMMAND_TIMEOUT_MS: positiveInt(2_000),
  /** Time a client has to send a whole request (headers and body); a response streaming longer is not cut. */
  REQUEST_TIMEOUT_MS: positiveInt(30_000),
  /** Open event streams (SSE) per API process, and per client. */
  EVENT_STREAMS_MAX: positiveInt(1_000),
  EVENT_STREAMS_PER_CLIENT_MAX: positiveInt(20),
  /** POST /import: the whole body, runs per file, epochs per run, any string's length, and (any artifact) bytes. */
  IMPORT_MAX_BYTES: positiveInt(128 * 1024 * 1024),
  IMPORT_MAX_RUNS: positiveInt(2_000),
  IMPORT_MAX_EPOCHS_PER_RUN: positiveInt(200),
  IMPORT_MAX_STRING_LENGTH: positiveInt(4_096),
  /** The largest artifact stored, imported or written by a worker (a cnn5 float32 model packs to about 0.6 MB). */
  ARTIFACT_MAX_BYTES: positiveInt(32 * 1024 * 1024),
  /** POST /models: the whole request (model.json and weights; base64 counts as sent), and its own body limit. */
  MODEL_MAX_BYTES: positiveInt(64 * 1024 * 1024),
  /** Times a job may stall (its worker died) and resume before BullMQ fails it; the run then ends failed. */
  MAX_STALLED_COUNT: z.coerce.number().int().min(0).default(2),
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

/** Loopback addresses: only this machine can connect. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Why the API must not listen as configured, or null: without API_TOKEN anyone who can reach the port can queue,
 * delete and import runs, so a non-loopback HOST needs the token, or ALLOW_NO_AUTH=1 to say that open is intended.
 */
export function listenRefusal(env: Pick<Env, 'HOST' | 'API_TOKEN' | 'ALLOW_NO_AUTH'>): string | null {
  if (env.API_TOKEN || env.ALLOW_NO_AUTH || isLoopbackHost(env.HOST)) return null;
  return `refusing to listen on ${env.HOST} without API_TOKEN: set API_TOKEN (at least 16 characters), or ALLOW_NO_AUTH=1 to run the API open to the network`;
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
