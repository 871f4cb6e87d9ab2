import type { Redis } from 'ioredis';
import type { SweepRecord } from '../schemas/sweep.ts';
import { keysFor, type Keys } from './keys.ts';

/**
 * Sweeps in Redis: a hash per sweep (its runs, baselines and the request) and a zset by creation time. The runs
 * themselves live in RunStore; a sweep's status and summary are derived from them when read.
 */
export class SweepStore {
  readonly keys: Keys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = keysFor(prefix);
  }

  async create(sweep: SweepRecord): Promise<void> {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(sweep)) fields[k] = JSON.stringify(v ?? null);
    await this.redis.multi().hset(this.keys.sweep(sweep.id), fields).zadd(this.keys.sweeps, Date.parse(sweep.createdAt), sweep.id).exec();
  }

  async get(id: string): Promise<SweepRecord | null> {
    const [s] = await this.getMany([id]);
    return s ?? null;
  }

  async getMany(ids: readonly string[]): Promise<SweepRecord[]> {
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hgetall(this.keys.sweep(id));
    const res = (await p.exec()) ?? [];
    const out: SweepRecord[] = [];
    for (const [err, hash] of res as [Error | null, Record<string, string>][]) {
      if (err) throw err;
      if (!hash || Object.keys(hash).length === 0) continue;
      const raw: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(hash)) raw[k] = JSON.parse(v);
      out.push(raw as SweepRecord);
    }
    return out;
  }

  /** Removes the sweep's own record and its early-stopping data (not its runs: RunStore.delete does those). */
  async delete(id: string): Promise<void> {
    await this.redis.multi().del(this.keys.sweep(id), this.keys.sweepStops(id), this.keys.sweepAccuracies(id)).zrem(this.keys.sweeps, id).exec();
  }

  /** Newest first; the cursor names the last sweep of the previous page. */
  async listIds(opts: { limit: number; cursor?: string | null }): Promise<{ ids: string[]; nextCursor: string | null }> {
    let start = 0;
    if (opts.cursor) {
      const rank = await this.redis.zrevrank(this.keys.sweeps, Buffer.from(opts.cursor, 'base64url').toString());
      if (rank === null) throw new RangeError('the cursor names a sweep that no longer exists');
      start = rank + 1;
    }
    const ids = await this.redis.zrevrange(this.keys.sweeps, start, start + opts.limit);
    const page = ids.slice(0, opts.limit);
    return { ids: page, nextCursor: ids.length > opts.limit ? Buffer.from(page[page.length - 1]).toString('base64url') : null };
  }
}
