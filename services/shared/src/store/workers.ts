import type { Redis } from 'ioredis';
import { WorkerInfo } from '../schemas/worker.ts';
import { keysFor } from './keys.ts';

/** How often a worker refreshes its entry, and how long the entry outlives the last refresh. */
export const HEARTBEAT_MS = 5_000;
export const WORKER_TTL_MS = 3 * HEARTBEAT_MS;

/**
 * A worker's entry in the registry: one key per worker with a TTL (so a killed worker disappears by itself) plus a
 * set of ids for listing without SCAN.
 */
export class WorkerRegistration {
  private info: WorkerInfo;
  private timer: NodeJS.Timeout | null = null;
  private readonly keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    info: Omit<WorkerInfo, 'lastSeen'>,
    private readonly heartbeatMs = HEARTBEAT_MS,
    /** Fields recomputed at every heartbeat (the datasets a worker finds under its DATA_DIR). */
    private readonly refresh?: () => Partial<Omit<WorkerInfo, 'id' | 'lastSeen'>>,
  ) {
    this.keys = keysFor(prefix);
    this.info = { ...info, lastSeen: info.startedAt };
  }

  get current(): WorkerInfo {
    return this.info;
  }

  /** Writes the entry and starts the heartbeat. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      // A failed beat (Redis away) is harmless: the next one rewrites the whole entry.
      this.beat().catch(() => {});
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** Changes fields (current runs, backend) and writes them at once. */
  async update(patch: Partial<Omit<WorkerInfo, 'id' | 'lastSeen'>>): Promise<void> {
    this.info = { ...this.info, ...patch };
    await this.beat();
  }

  async beat(): Promise<void> {
    let fresh: Partial<WorkerInfo> = {};
    try {
      fresh = this.refresh?.() ?? {};
    } catch {
      // Keep the last known values; the beat itself matters more.
    }
    this.info = { ...this.info, ...fresh, lastSeen: new Date().toISOString() };
    const ttl = Math.max(3 * this.heartbeatMs, 1_000);
    await this.redis.multi().set(this.keys.worker(this.info.id), JSON.stringify(this.info), 'PX', ttl).sadd(this.keys.workers, this.info.id).exec();
  }

  /** Stops the heartbeat and removes the entry. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.redis.multi().del(this.keys.worker(this.info.id)).srem(this.keys.workers, this.info.id).exec();
  }
}

/** The live workers (entries whose TTL has not run out), sorted by id; ids of expired ones are pruned from the set. */
export async function listWorkers(redis: Redis, prefix: string): Promise<WorkerInfo[]> {
  const keys = keysFor(prefix);
  const ids = (await redis.smembers(keys.workers)).sort();
  if (ids.length === 0) return [];
  const values = await redis.mget(...ids.map((id) => keys.worker(id)));
  const live: WorkerInfo[] = [];
  const gone: string[] = [];
  values.forEach((v, i) => {
    const parsed = v ? WorkerInfo.safeParse(JSON.parse(v)) : null;
    if (parsed?.success) live.push(parsed.data);
    else gone.push(ids[i]);
  });
  if (gone.length) await redis.srem(keys.workers, ...gone);
  return live;
}

/** The registry as the API reads it (a narrow dependency use cases can take, and tests fake). */
export class WorkerDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  list(): Promise<WorkerInfo[]> {
    return listWorkers(this.redis, this.prefix);
  }
}
