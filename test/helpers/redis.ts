import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { parseEnv, type Env } from '@quantlab/shared';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * An environment of its own for one test: a unique key prefix and queue name on the real Redis, short BullMQ
 * intervals, and `cleanup()` that deletes every key under the prefix.
 */
export function testEnv(name: string, overrides: Record<string, string> = {}): Env & { cleanup(): Promise<void> } {
  const tag = `${name.replace(/[^A-Za-z0-9_-]/g, '-')}-${randomBytes(4).toString('hex')}`;
  const env = parseEnv({
    REDIS_URL,
    KEY_PREFIX: `qltest:${tag}`,
    QUEUE_NAME: `q-${tag}`,
    LOCK_DURATION_MS: '4000',
    STALLED_INTERVAL_MS: '2000',
    LOG_LEVEL: 'silent',
    RATE_LIMIT_MAX: '0',
    ...overrides,
  });
  return Object.assign(env, { cleanup: () => deleteByPrefix(env.KEY_PREFIX) });
}

export async function deleteByPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function keysUnder(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
    return out;
  } finally {
    redis.disconnect();
  }
}

/** A private redis-server on a free loopback port (no persistence), for faults the shared server must not see. */
export async function startPrivateRedis(args: string[] = []): Promise<{ url: string; port: number; child: import('node:child_process').ChildProcess; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  probe.on('error', () => {});
  try {
    const until = Date.now() + 10_000;
    while ((await probe.ping().catch(() => null)) !== 'PONG') {
      if (Date.now() > until) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    probe.disconnect();
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    async stop() {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
  };
}
