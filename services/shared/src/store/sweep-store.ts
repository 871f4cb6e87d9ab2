import type { Redis } from 'ioredis';
import type { SweepRecord } from '../schemas/sweep.ts';
import { keysFor, type Keys } from './keys.ts';

// The sweep record keeps runIds and baselines as JSON in hash fields. Editing them in Lua makes concurrent deletes and
// retries of one sweep's runs safe without WATCH (which a shared, auto-pipelined connection cannot do).
// KEYS[1] sweep hash, KEYS[2] its rendered document (dropped, and rev moved on: the run list changes); ARGV: pairs of
// (old id, new id or '') — '' removes the id; a missing old id with a new id appends.
// cjson encodes an empty table as {}, hence the explicit '[]'.
const EDIT_SWEEP_RUNS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ids = cjson.decode(redis.call('HGET', KEYS[1], 'runIds') or '[]')
local baselines = cjson.decode(redis.call('HGET', KEYS[1], 'baselines') or '{}')
for i = 1, #ARGV, 2 do
  local old, new = ARGV[i], ARGV[i + 1]
  local out, found = {}, false
  for _, id in ipairs(ids) do
    if id == old then
      found = true
      if new ~= '' then out[#out + 1] = new end
    else
      out[#out + 1] = id
    end
  end
  if not found and new ~= '' and old == '' then out[#out + 1] = new end
  ids = out
  for seed, id in pairs(baselines) do
    if id == old and new ~= '' then baselines[seed] = new end
  end
end
redis.call('HSET', KEYS[1], 'runIds', #ids == 0 and '[]' or cjson.encode(ids))
if next(baselines) ~= nil then redis.call('HSET', KEYS[1], 'baselines', cjson.encode(baselines)) end
redis.call('HINCRBY', KEYS[1], 'rev', 1)
redis.call('DEL', KEYS[2])
return #ids
`;

// Keeps a rendered sweep document unless the sweep changed since its record was read (rev moved on, or it is gone).
// KEYS[1] sweep hash, KEYS[2] rendered document; ARGV[1] the rev read with the record ('' = none), ARGV[2] the JSON.
const CACHE_SWEEP_DOCUMENT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (redis.call('HGET', KEYS[1], 'rev') or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`;

/** A sweep record with the revision it was read at (see SweepStore.readDocument). */
export type SweepRead = { json: string } | { json: null; record: SweepRecord; rev: string };

/**
 * Sweeps in Redis: a hash per sweep (its runs, baselines and the request) and a zset by creation time. The runs
 * themselves live in RunStore; a sweep's status and summary are derived from them when read, and a finished sweep's
 * document is kept once rendered (readDocument / cacheDocument). The hash's internal `rev` counts the writes that
 * change what that document shows: its own run list and, in RunStore's scripts, every write to one of its runs.
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
    const m = this.redis.multi();
    this.queueCreate(m, sweep);
    await m.exec();
  }

  /** Adds the commands that create the sweep to a MULTI (an import writes its runs and sweep in one). */
  queueCreate(m: ReturnType<Redis['multi']>, sweep: SweepRecord): void {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(sweep)) fields[k] = JSON.stringify(v ?? null);
    // A random start, so a reader that saw a deleted sweep's rev cannot match a re-created one's.
    fields.rev = String(Math.floor(Math.random() * 2 ** 40));
    m.hset(this.keys.sweep(sweep.id), fields).del(this.keys.sweepDocument(sweep.id)).zadd(this.keys.sweeps, Date.parse(sweep.createdAt), sweep.id);
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
      out.push(recordOf(hash));
    }
    return out;
  }

  /**
   * GET /sweeps/:id's read: the rendered document when one is kept (one GET), else the record with the rev it was
   * read at, for cacheDocument. null when there is no such sweep.
   */
  async readDocument(id: string): Promise<SweepRead | null> {
    const json = await this.redis.get(this.keys.sweepDocument(id));
    if (json !== null) return { json };
    const hash = await this.redis.hgetall(this.keys.sweep(id));
    if (!hash || Object.keys(hash).length === 0) return null;
    return { json: null, record: recordOf(hash), rev: hash.rev ?? '' };
  }

  /**
   * Keeps a finished sweep's rendered document, read from its runs after readDocument returned `rev`; refused (false)
   * when the sweep or one of its runs was written since.
   */
  async cacheDocument(id: string, rev: string, json: string): Promise<boolean> {
    return (await this.redis.eval(CACHE_SWEEP_DOCUMENT, 2, this.keys.sweep(id), this.keys.sweepDocument(id), rev, json)) === 1;
  }

  /** Removes the sweep's own record and its early-stopping data (not its runs: RunStore.delete does those). */
  async delete(id: string): Promise<void> {
    await this.redis.multi().del(this.keys.sweep(id), this.keys.sweepDocument(id), this.keys.sweepStops(id), this.keys.sweepAccuracies(id)).zrem(this.keys.sweeps, id).exec();
  }

  /**
   * Edits a sweep's run list atomically: each [old, new] pair replaces old by new (and in the baselines map), [old, '']
   * removes old, ['', new] appends new. Returns the number of runs left, or 0 when the sweep does not exist.
   */
  async editRuns(sweepId: string, pairs: [string, string][]): Promise<number> {
    // EVAL rather than defineCommand: a command defined later than an auto-pipelined connection was made is missing
    // from its pipelines.
    return (await this.redis.eval(EDIT_SWEEP_RUNS, 2, this.keys.sweep(sweepId), this.keys.sweepDocument(sweepId), ...pairs.flat())) as number;
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

function recordOf(hash: Record<string, string>): SweepRecord {
  const raw: Record<string, unknown> = {};
  // rev is bookkeeping (see the class), not part of the record.
  for (const [k, v] of Object.entries(hash)) if (k !== 'rev') raw[k] = JSON.parse(v);
  return raw as SweepRecord;
}
