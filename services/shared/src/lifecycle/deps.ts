import type { Redis } from 'ioredis';
import type { Env } from '../config.ts';
import type { RunQueue } from '../queue.ts';
import type { RunStore } from '../store/run-store.ts';
import type { SweepStore } from '../store/sweep-store.ts';

/** What the lifecycle operations need; the API's context has all of it. */
export interface LifecycleDeps {
  env: Pick<Env, 'KEY_PREFIX' | 'QUEUE_NAME'>;
  redis: Redis;
  runs: RunStore;
  sweeps: SweepStore;
  queue: RunQueue;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
