// Starting the local stack from scripts: Redis when nothing answers, and API / worker processes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Env } from '@quantlab/shared';

export async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** Starts redis-server (data under DATA_DIR/redis, append-only) when nothing answers at a local REDIS_URL. */
export async function ensureRedis(env: Env): Promise<ChildProcess | null> {
  if (await redisAnswers(env.REDIS_URL)) return null;
  const url = new URL(env.REDIS_URL);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(url.hostname);
  const hasBinary = spawnSync('redis-server', ['--version']).status === 0;
  if (!local || !hasBinary) {
    console.error(`quantlab: nothing answers at ${env.REDIS_URL}: start Redis there (or run \`docker compose up\`)`);
    process.exit(1);
  }
  const dir = resolve(env.DATA_DIR, 'redis');
  mkdirSync(dir, { recursive: true });
  console.log(`starting redis-server on port ${url.port || 6379} with its data in ${dir}`);
  const child = spawn('redis-server', ['--port', url.port || '6379', '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes'], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !(await redisAnswers(env.REDIS_URL)); i++) await new Promise((r) => setTimeout(r, 100));
  return child;
}

/** A service process (`services/api/src/server.ts`, `services/worker/src/main.ts`) with this process's environment. */
export function startService(script: string, extraEnv: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...extraEnv } });
}

export function baseUrl(env: Env): string {
  const host = env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${env.PORT}`;
}

/** Waits until the API answers /healthz. */
export async function waitForApi(base: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the API did not answer at ${base}/healthz within ${timeoutMs / 1000} s`);
}
