import type { Redis } from 'ioredis';
import { ARTIFACT_FORMAT_V1, FINAL_STATUSES, LEGACY_ARTIFACT_FORMAT, RUN_STATUSES, type EpochMetrics, type RunDocument, type RunStatus } from '../schemas/run.ts';
import { keysFor, type Keys } from './keys.ts';

/** A running job's right to write: BullMQ's lock key and the token it holds. */
export interface Fence {
  lockKey: string;
  token: string;
}

/** Thrown when a fenced write finds the lock held by someone else: the job now belongs to another worker. */
export class FenceLostError extends Error {
  constructor(runId: string) {
    super(`lost the lock on run ${runId}; another worker owns it now`);
  }
}

/** A list cursor that names no run of the list (deleted meanwhile, or from another list). */
export class CursorError extends RangeError {}

export type RunEvent =
  | { type: 'status'; runId: string; status: RunStatus; error?: { message: string } | null }
  | { type: 'progress'; runId: string; progress: RunDocument['progress'] }
  | { type: 'epoch'; runId: string; epoch: EpochMetrics };

/** A run's fields as stored: the document without its epochs (those live in a hash of their own). */
export type RunFields = Omit<RunDocument, 'epochs'>;
export type RunField = keyof RunFields;

export interface RunFilter {
  status?: RunStatus;
  dataset?: string;
  /** representation kind */
  kind?: string;
  sweepId?: string;
}

/** Runs examined per list call at most, so a combination of filters matching nothing cannot read every run. */
export const MAX_LIST_SCAN = 5_000;
/** The version of the indexes that ensureIndexes brings old data to. */
const INDEX_VERSION = '1';

// Hash field values are JSON, every one of them (cancelRequested too). The scripts below decode with cjson.

// KEYS[1] lock key ('' = unfenced), KEYS[2] target; ARGV[1] token, ARGV[2] op, ARGV[3] channel, ARGV[4] message, rest: args.
// Checking the lock and writing in one script is what keeps a zombie trainer from writing after it lost the job.
const FENCED_WRITE = `
if KEYS[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call(ARGV[2], KEYS[2], unpack(ARGV, 5))
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
`;

// A finished sweep's rendered document (SweepStore) is built from its runs: every script below that changes a run
// of a sweep drops that copy and moves the sweep record's rev on (so a copy rendered before the write is refused), here
// where no write path can forget it. `prefix` is keys.sweepKeyPrefix, `raw` the run's sweepId field (JSON) or nil.
const TOUCH_SWEEP = `
local function touch_sweep(prefix, raw)
  if not raw then return end
  local s = cjson.decode(raw)
  if type(s) ~= 'string' then return end
  local key = prefix .. s
  if redis.call('EXISTS', key) == 1 then redis.call('HINCRBY', key, 'rev', 1) end
  redis.call('DEL', key .. ':doc')
end
`;

// The same for a run being created (in createMany's and importMany's MULTI). KEYS[1] sweep hash, KEYS[2] its document.
const TOUCH_SWEEP_ON_CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'rev', 1) end
redis.call('DEL', KEYS[2])
return 1
`;

// Sets fields of an existing run and moves it between status indexes in the same step. A run that reaches a final
// status (FINAL_STATUSES, written into the script) loses its checkpoint in that step too, so no reader ever sees a
// finished run with a checkpoint.
// KEYS[1] lock ('' = unfenced), KEYS[2] run hash, KEYS[3] runs zset, KEYS[4] rendered document, KEYS[5] checkpoint
// ARGV[1] token, ARGV[2] channel, ARGV[3] message, ARGV[4] index prefix, ARGV[5] run id, ARGV[6] sweep key prefix,
// ARGV[7..] field, JSON value pairs
// Returns 0: fence lost; -1: no such run (never re-created by a late write); 1: written.
const UPDATE_RUN = `${TOUCH_SWEEP}
local final = {${FINAL_STATUSES.map((st) => `['${st}'] = true`).join(', ')}}
if KEYS[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local sweep_before = redis.call('HGET', KEYS[2], 'sweepId')
for i = 7, #ARGV, 2 do
  if ARGV[i] == 'status' then
    local new = cjson.decode(ARGV[i + 1])
    if final[new] then redis.call('DEL', KEYS[5]) end
    local raw = redis.call('HGET', KEYS[2], 'status')
    local old = raw and cjson.decode(raw)
    if old ~= new then
      if old then redis.call('ZREM', ARGV[4] .. 'status:' .. old, ARGV[5]) end
      redis.call('ZADD', ARGV[4] .. 'status:' .. new, redis.call('ZSCORE', KEYS[3], ARGV[5]) or 0, ARGV[5])
    end
  end
end
redis.call('HSET', KEYS[2], unpack(ARGV, 7))
redis.call('HINCRBY', KEYS[2], 'rev', 1)
redis.call('DEL', KEYS[4])
touch_sweep(ARGV[6], sweep_before)
local sweep_after = redis.call('HGET', KEYS[2], 'sweepId')
if sweep_after ~= sweep_before then touch_sweep(ARGV[6], sweep_after) end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
`;

// Records an epoch (keyed by its number) and moves progress with it.
// KEYS[1] lock, KEYS[2] run hash, KEYS[3] epochs hash, KEYS[4] rendered document
// ARGV[1] token, ARGV[2] channel, ARGV[3] message, ARGV[4] epoch number, ARGV[5] epoch JSON, ARGV[6] progress JSON,
// ARGV[7] sweep key prefix
const ADD_EPOCH = `${TOUCH_SWEEP}
if KEYS[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
redis.call('HSET', KEYS[2], 'progress', ARGV[6])
redis.call('HINCRBY', KEYS[2], 'rev', 1)
redis.call('DEL', KEYS[4])
touch_sweep(ARGV[7], redis.call('HGET', KEYS[2], 'sweepId'))
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
`;

// Puts runs into the indexes their stored fields call for (and out of the others). Used for data written before the
// indexes existed; idempotent. KEYS[1] runs zset; ARGV[1] index prefix, ARGV[2] run key prefix, ARGV[3] statuses
// (comma-separated), ARGV[4..] run ids.
const INDEX_RUNS = `
local statuses = {}
for s in string.gmatch(ARGV[3], '[^,]+') do statuses[#statuses + 1] = s end
local n = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', ARGV[2] .. id, 'status', 'config', 'sweepId')
  local score = redis.call('ZSCORE', KEYS[1], id)
  if f[1] and score then
    local status = cjson.decode(f[1])
    for _, s in ipairs(statuses) do
      if s ~= status then redis.call('ZREM', ARGV[1] .. 'status:' .. s, id) end
    end
    redis.call('ZADD', ARGV[1] .. 'status:' .. status, score, id)
    if f[2] then
      local c = cjson.decode(f[2])
      if type(c.dataset) == 'string' then redis.call('ZADD', ARGV[1] .. 'dataset:' .. c.dataset, score, id) end
      if type(c.representation) == 'table' and type(c.representation.kind) == 'string' then
        redis.call('ZADD', ARGV[1] .. 'kind:' .. c.representation.kind, score, id)
      end
    end
    if f[3] then
      local s = cjson.decode(f[3])
      if type(s) == 'string' then redis.call('ZADD', ARGV[1] .. 'sweep:' .. s, score, id) end
    end
    n = n + 1
  end
end
return n
`;

// Removes a run: its keys, its index entries and (optionally) its job's lock in one step. Deleting the lock is what
// stops a worker that still trains the run: each of its writes is fenced by that lock, so none can re-create the run.
// KEYS[1] run hash, [2] epochs, [3] artifact, [4] checkpoint, [5] runs zset, [6] lock ('' = none), [7] rendered doc
// ARGV[1] run id, ARGV[2] index prefix, ARGV[3] statuses (comma-separated), ARGV[4] sweep key prefix
const DELETE_RUN = `${TOUCH_SWEEP}
local f = redis.call('HMGET', KEYS[1], 'config', 'sweepId')
touch_sweep(ARGV[4], f[2])
for s in string.gmatch(ARGV[3], '[^,]+') do redis.call('ZREM', ARGV[2] .. 'status:' .. s, ARGV[1]) end
if f[1] then
  local c = cjson.decode(f[1])
  if type(c.dataset) == 'string' then redis.call('ZREM', ARGV[2] .. 'dataset:' .. c.dataset, ARGV[1]) end
  if type(c.representation) == 'table' and type(c.representation.kind) == 'string' then
    redis.call('ZREM', ARGV[2] .. 'kind:' .. c.representation.kind, ARGV[1])
  end
end
if f[2] then
  local s = cjson.decode(f[2])
  if type(s) == 'string' then redis.call('ZREM', ARGV[2] .. 'sweep:' .. s, ARGV[1]) end
end
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('DEL', KEYS[7])
if KEYS[6] ~= '' then redis.call('DEL', KEYS[6]) end
redis.call('ZREM', KEYS[5], ARGV[1])
return n
`;

// One page of an index, newest first, starting after the cursor's run. A cursor run that has left this index since
// (its status changed) still marks a place: its creation score from the runs zset, ties broken as Redis orders them.
// KEYS[1] index zset, KEYS[2] runs zset; ARGV[1] cursor run id or '', ARGV[2] count. nil when the cursor run is gone.
const LIST_PAGE = `
local start = 0
if ARGV[1] ~= '' then
  local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
  if rank then
    start = rank + 1
  else
    local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
    if not score then return false end
    start = redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf')
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], score, score)) do
      if m > ARGV[1] then start = start + 1 end
    end
  end
end
return redis.call('ZREVRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)
`;

// Caches a finished run's rendered document, unless the run changed since it was read (its rev moved on).
// KEYS[1] run hash, KEYS[2] rendered document; ARGV[1] rev read with the fields, ARGV[2] JSON.
const CACHE_DOCUMENT = `
if (redis.call('HGET', KEYS[1], 'rev') or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`;

interface StoreScripts {
  quantlabCacheDocument(run: string, doc: string, rev: string, json: string): Promise<number>;
  quantlabFencedWrite(lockKey: string, key: string, token: string, op: string, channel: string, message: string, ...args: (string | Buffer)[]): Promise<number>;
  quantlabUpdateRun(lockKey: string, run: string, runs: string, doc: string, checkpoint: string, token: string, channel: string, message: string, index: string, id: string, sweepPrefix: string, ...fields: string[]): Promise<number>;
  quantlabAddEpoch(lockKey: string, run: string, epochs: string, doc: string, token: string, channel: string, message: string, n: string, epoch: string, progress: string, sweepPrefix: string): Promise<number>;
  quantlabIndexRuns(runs: string, index: string, runPrefix: string, statuses: string, ...ids: string[]): Promise<number>;
  quantlabDeleteRun(run: string, epochs: string, artifact: string, checkpoint: string, runs: string, lock: string, doc: string, id: string, index: string, statuses: string, sweepPrefix: string): Promise<number>;
  quantlabListPage(index: string, runs: string, cursor: string, count: string): Promise<string[] | null>;
}

const SCRIPTS: Record<keyof StoreScripts, { numberOfKeys: number; lua: string }> = {
  quantlabFencedWrite: { numberOfKeys: 2, lua: FENCED_WRITE },
  quantlabUpdateRun: { numberOfKeys: 5, lua: UPDATE_RUN },
  quantlabAddEpoch: { numberOfKeys: 4, lua: ADD_EPOCH },
  quantlabCacheDocument: { numberOfKeys: 2, lua: CACHE_DOCUMENT },
  quantlabIndexRuns: { numberOfKeys: 1, lua: INDEX_RUNS },
  quantlabDeleteRun: { numberOfKeys: 7, lua: DELETE_RUN },
  quantlabListPage: { numberOfKeys: 2, lua: LIST_PAGE },
};

const encode = (v: unknown) => JSON.stringify(v ?? null);
const FINAL = new Set<RunStatus>(FINAL_STATUSES);

/**
 * The results store, and the only code that knows a run's Redis hash: its field names, their JSON encoding, and the
 * indexes (by status, dataset, representation kind, sweep) that every write keeps in
 * step within the same atomic command. Run documents, their epochs, artifacts and checkpoints live under the
 * project's keys (keys.ts).
 */
export class RunStore {
  readonly keys: Keys;
  private readonly statusList = RUN_STATUSES.join(',');

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = keysFor(prefix);
    // Defined before the connection's first (auto-)pipeline, which copies the commands it knows.
    for (const [name, def] of Object.entries(SCRIPTS)) if (!(name in redis)) redis.defineCommand(name, def);
  }

  private get scripts(): StoreScripts {
    return this.redis as unknown as StoreScripts;
  }

  // ---- writes ---------------------------------------------------------------------------------------------------

  async create(doc: RunDocument, extra: { score?: number } = {}): Promise<void> {
    await this.createMany([doc], extra.score === undefined ? undefined : [extra.score]);
  }

  /** Several runs in one MULTI, with their index entries: a sweep's runs appear together or not at all. */
  async createMany(docs: readonly RunDocument[], scores?: readonly number[]): Promise<void> {
    const m = this.redis.multi();
    docs.forEach((doc, i) => this.queueCreate(m, doc, scores?.[i] ?? Date.parse(doc.createdAt)));
    await execOrThrow(m);
  }

  /**
   * A run as it was elsewhere (import): document, epochs and artifact in one MULTI, indexed like any other run.
   * Nothing is written when the MULTI fails.
   */
  async importMany(items: readonly { doc: RunDocument; artifact?: Buffer | null }[], also?: (m: ReturnType<Redis['multi']>) => void): Promise<void> {
    const m = this.redis.multi();
    also?.(m);
    for (const { doc, artifact } of items) {
      this.queueCreate(m, doc, Date.parse(doc.createdAt));
      if (doc.epochs.length) m.hset(this.keys.epochs(doc.id), Object.fromEntries(doc.epochs.map((e) => [String(e.epoch), JSON.stringify(e)])));
      if (artifact) m.set(this.keys.artifact(doc.id), artifact);
    }
    await execOrThrow(m);
  }

  /**
   * The cluster-wide claim an ids=same import holds while it checks its ids and writes (SET NX with an expiry, so a
   * process that dies holding it blocks imports for a minute at most). Returns its release, or null when taken.
   */
  async claimImport(ttlMs = 60_000): Promise<(() => Promise<void>) | null> {
    const token = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const key = this.keys.importClaim;
    if ((await this.redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return null;
    return async () => {
      await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, key, token).catch(() => {});
    };
  }

  private queueCreate(m: ReturnType<Redis['multi']>, doc: RunDocument, score: number): void {
    const { epochs: _epochs, ...fields } = doc;
    const k = this.keys;
    m.hset(k.run(doc.id), flatten(fields));
    m.zadd(k.runs, score, doc.id);
    m.zadd(k.runsByStatus(doc.status), score, doc.id);
    m.zadd(k.runsByDataset(doc.config.dataset), score, doc.id);
    m.zadd(k.runsByKind(doc.config.representation.kind), score, doc.id);
    if (doc.sweepId) {
      m.zadd(k.runsBySweep(doc.sweepId), score, doc.id);
      m.eval(TOUCH_SWEEP_ON_CREATE, 2, k.sweep(doc.sweepId), k.sweepDocument(doc.sweepId));
    }
  }

  /**
   * Sets top-level fields of a run (a status change moves it between status indexes in the same step); with a fence,
   * only while the caller holds the job's lock. Never re-creates a deleted run: returns false then (a fenced write
   * throws FenceLostError, since the run is no longer its job's to write).
   */
  async update(id: string, patch: Partial<RunFields>, fence?: Fence, event?: RunEvent): Promise<boolean> {
    return this.setFields(id, flatten(patch), fence, event);
  }

  private async setFields(id: string, fields: Record<string, string>, fence?: Fence, event?: RunEvent): Promise<boolean> {
    const args = Object.entries(fields).flat();
    if (args.length === 0) return true;
    const k = this.keys;
    const r = await this.scripts.quantlabUpdateRun(
      fence?.lockKey ?? '',
      k.run(id),
      k.runs,
      k.runDocument(id),
      k.checkpoint(id),
      fence?.token ?? '',
      event ? k.events(id) : '',
      event ? JSON.stringify(event) : '',
      k.runIndexPrefix,
      id,
      k.sweepKeyPrefix,
      ...args,
    );
    if (r === 0 || (r === -1 && fence)) throw new FenceLostError(id);
    return r === 1;
  }

  /** Records an epoch exactly once (keyed by its number) and moves progress with it, in one fenced step. */
  async addEpoch(id: string, epoch: EpochMetrics, epochs: number, fence?: Fence): Promise<void> {
    const k = this.keys;
    const progress = { epoch: epoch.epoch, epochs, fraction: Math.min(1, epoch.epoch / epochs) };
    const r = await this.scripts.quantlabAddEpoch(
      fence?.lockKey ?? '',
      k.run(id),
      k.epochs(id),
      k.runDocument(id),
      fence?.token ?? '',
      k.events(id),
      JSON.stringify({ type: 'epoch', runId: id, epoch } satisfies RunEvent),
      String(epoch.epoch),
      JSON.stringify(epoch),
      JSON.stringify(progress),
      k.sweepKeyPrefix,
    );
    if (r !== 1) throw new FenceLostError(id);
  }

  /**
   * Ends a run that is still queued or running as failed with `message` (a finished or missing run is left alone), for
   * jobs BullMQ failed without the handler writing the run (stall limit, unreadable data). The job is failed for good,
   * so no worker writes the run any more. Returns whether the run was changed.
   */
  async failIfUnfinished(id: string, message: string): Promise<boolean> {
    const status = await this.status(id);
    if (status !== 'queued' && status !== 'running') return false;
    const error = { message };
    return this.update(id, { status: 'failed', error, finishedAt: new Date().toISOString(), workerId: null }, undefined, { type: 'status', runId: id, status: 'failed', error });
  }

  /** Asks the worker running the run to stop (it checks isCancelRequested). False when there is no such run. */
  async requestCancel(id: string): Promise<boolean> {
    return this.setFields(id, { cancelRequested: encode(true) });
  }

  async isCancelRequested(id: string): Promise<boolean> {
    const v = await this.redis.hget(this.keys.run(id), 'cancelRequested');
    return v !== null && JSON.parse(v) === true;
  }

  async setArtifact(id: string, bytes: Uint8Array, fence?: Fence): Promise<void> {
    await this.fenced(id, fence, 'SET', this.keys.artifact(id), undefined, [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
  }

  async saveCheckpoint(id: string, bytes: Uint8Array, fence?: Fence): Promise<void> {
    await this.fenced(id, fence, 'SET', this.keys.checkpoint(id), undefined, [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
  }

  /**
   * Removes everything stored for a run, its index entries and, given its job's lock key, the lock (so a worker still
   * training it fails its next fenced write). Returns whether the run's document existed.
   */
  async delete(id: string, opts: { lockKey?: string } = {}): Promise<boolean> {
    const k = this.keys;
    const n = await this.scripts.quantlabDeleteRun(k.run(id), k.epochs(id), k.artifact(id), k.checkpoint(id), k.runs, opts.lockKey ?? '', k.runDocument(id), id, k.runIndexPrefix, this.statusList, k.sweepKeyPrefix);
    return n > 0;
  }

  /** Takes a job's lock away (BullMQ's lock key): the fenced writes of whoever held it fail from now on. */
  async revokeFence(lockKey: string): Promise<void> {
    await this.redis.del(lockKey);
  }

  async publish(event: RunEvent): Promise<void> {
    await this.redis.publish(this.keys.events(event.runId), JSON.stringify(event));
  }

  // ---- reads ----------------------------------------------------------------------------------------------------

  async get(id: string): Promise<RunDocument | null> {
    const [doc] = await this.getMany([id]);
    return doc ?? null;
  }

  /** Documents in the order asked for; missing ids are skipped. One round trip. */
  async getMany(ids: readonly string[]): Promise<RunDocument[]> {
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) {
      p.hgetall(this.keys.run(id));
      p.hvals(this.keys.epochs(id));
    }
    const res = (await p.exec()) ?? [];
    const out: RunDocument[] = [];
    for (let i = 0; i < ids.length; i++) {
      const [e1, hash] = res[2 * i] as [Error | null, Record<string, string>];
      const [e2, epochs] = res[2 * i + 1] as [Error | null, string[]];
      if (e1 || e2) throw e1 ?? e2;
      if (!hash || Object.keys(hash).length === 0) continue;
      out.push(inflate(hash, epochs));
    }
    return out;
  }

  /**
   * Documents as JSON, in the order asked for (null for a missing run). A finished run's document no longer changes,
   * so it is rendered once and kept (every write to the run drops the copy): reading it is one GET. Unfinished runs
   * are read from their fields. One round trip when every document is cached, two otherwise.
   */
  async getJson(ids: readonly string[]): Promise<(string | null)[]> {
    return this.getJsonMany(ids);
  }

  /** One document as JSON (null for a missing run); see getJson. A cached one is a plain GET, as cheap as a read gets. */
  async getJsonOne(id: string): Promise<string | null> {
    return (await this.redis.get(this.keys.runDocument(id))) ?? (await this.getJsonMany([id], [null]))[0];
  }

  private async getJsonMany(ids: readonly string[], known?: (string | null)[]): Promise<(string | null)[]> {
    if (ids.length === 0) return [];
    const cached = known ?? (await this.redis.mget(ids.map((id) => this.keys.runDocument(id))));
    const missing = ids.filter((_, i) => cached[i] === null);
    if (missing.length === 0) return cached;
    const p = this.redis.pipeline();
    for (const id of missing) {
      p.hgetall(this.keys.run(id));
      p.hvals(this.keys.epochs(id));
    }
    const res = (await p.exec()) ?? [];
    const fill = this.redis.pipeline();
    let filling = 0;
    const rendered = new Map<string, string>();
    missing.forEach((id, i) => {
      const [e1, hash] = res[2 * i] as [Error | null, Record<string, string>];
      const [e2, epochs] = res[2 * i + 1] as [Error | null, string[]];
      if (e1 || e2) throw e1 ?? e2;
      if (!hash || Object.keys(hash).length === 0) return;
      const doc = inflate(hash, epochs);
      const json = renderRunJson(doc);
      rendered.set(id, json);
      if (FINAL.has(doc.status)) {
        (fill as unknown as StoreScripts).quantlabCacheDocument(this.keys.run(id), this.keys.runDocument(id), hash.rev ?? '0', json);
        filling++;
      }
    });
    // Not waited for: a reader does not need the copy, and a lost fill only means the next read renders again.
    if (filling) fill.exec().catch(() => {});
    return ids.map((id, i) => cached[i] ?? rendered.get(id) ?? null);
  }

  /**
   * Some fields of each run, in the order asked for (null for a run that does not exist). One round trip; the
   * cheap read for lists, filters and summaries that do not need whole documents.
   */
  async fields<K extends RunField>(ids: readonly string[], names: readonly K[]): Promise<(Pick<RunFields, K> | null)[]> {
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hmget(this.keys.run(id), ...names);
    const res = (await p.exec()) ?? [];
    return res.map(([err, vals]) => {
      if (err) throw err;
      const v = vals as (string | null)[];
      if (v.every((x) => x === null)) return null;
      const out: Record<string, unknown> = {};
      names.forEach((n, i) => (out[n] = v[i] === null ? null : JSON.parse(v[i]!)));
      return out as Pick<RunFields, K>;
    });
  }

  async status(id: string): Promise<RunStatus | null> {
    const v = await this.redis.hget(this.keys.run(id), 'status');
    return v === null ? null : (JSON.parse(v) as RunStatus);
  }

  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.run(id))) === 1;
  }

  async epochCount(id: string): Promise<number> {
    return this.redis.hlen(this.keys.epochs(id));
  }

  async getArtifact(id: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys.artifact(id));
  }

  async loadCheckpoint(id: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys.checkpoint(id));
  }

  /** Runs by status, from the status indexes: one round trip whatever the number of runs. */
  async countByStatus(): Promise<Record<RunStatus, number>> {
    const p = this.redis.pipeline();
    for (const s of RUN_STATUSES) p.zcard(this.keys.runsByStatus(s));
    const res = (await p.exec()) ?? [];
    return Object.fromEntries(
      RUN_STATUSES.map((s, i) => {
        const [err, n] = res[i];
        if (err) throw err;
        return [s, n as number];
      }),
    ) as Record<RunStatus, number>;
  }

  /** Ids of every run carrying this sweep's id (earlier attempts of retried runs included), oldest first. */
  async sweepMembers(sweepId: string): Promise<string[]> {
    return this.redis.zrange(this.keys.runsBySweep(sweepId), 0, -1);
  }

  /** Runs in a status created before `before` (ms) with their creation scores, oldest first, a page at a time. */
  async idsByStatusCreatedBefore(status: RunStatus, before: number, offset: number, count: number): Promise<{ id: string; score: number }[]> {
    const flat = await this.redis.zrangebyscore(this.keys.runsByStatus(status), '-inf', `(${before}`, 'WITHSCORES', 'LIMIT', offset, count);
    const out: { id: string; score: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i], score: Number(flat[i + 1]) });
    return out;
  }

  /** Every run id, oldest first, a page at a time (maintenance scans; requests use the indexes). */
  async idsPage(offset: number, count: number): Promise<string[]> {
    return this.redis.zrange(this.keys.runs, offset, offset + count - 1);
  }

  /**
   * Newest first, with optional filters. The cursor names the last run of the previous page, so runs created meanwhile
   * do not shift pages. One filter reads its index directly; several read the smallest one and check the others on
   * the runs' fields, examining at most MAX_LIST_SCAN runs per call (then the page may be short, with a cursor).
   * `order` lists the candidate ids instead of an index (a sweep's runs, in its own order, oldest first).
   */
  async listIds(opts: { limit: number; cursor?: string | null; filter?: RunFilter; order?: readonly string[] }): Promise<{ ids: string[]; nextCursor: string | null }> {
    const f = opts.filter ?? {};
    const k = this.keys;
    const indexes: [keyof RunFilter, string][] = [];
    if (f.status) indexes.push(['status', k.runsByStatus(f.status)]);
    if (f.dataset) indexes.push(['dataset', k.runsByDataset(f.dataset)]);
    if (f.kind) indexes.push(['kind', k.runsByKind(f.kind)]);
    if (f.sweepId && !opts.order) indexes.push(['sweepId', k.runsBySweep(f.sweepId)]);

    let source: (cursor: string | null, count: number) => Promise<string[]>;
    let check: (keyof RunFilter)[];
    if (opts.order) {
      const ordered = [...opts.order].reverse();
      source = async (cursor, count) => {
        let start = 0;
        if (cursor) {
          const at = ordered.indexOf(cursor);
          if (at < 0) throw new CursorError('the cursor names a run that is not in this sweep');
          start = at + 1;
        }
        return ordered.slice(start, start + count);
      };
      check = (['status', 'dataset', 'kind', 'sweepId'] as const).filter((n) => f[n]);
    } else {
      let index = k.runs;
      check = [];
      if (indexes.length === 1) index = indexes[0][1];
      else if (indexes.length > 1) {
        const p = this.redis.pipeline();
        for (const [, key] of indexes) p.zcard(key);
        const sizes = ((await p.exec()) ?? []).map(([, n]) => n as number);
        const smallest = sizes.indexOf(Math.min(...sizes));
        index = indexes[smallest][1];
        check = indexes.filter((_, i) => i !== smallest).map(([n]) => n);
      }
      source = async (cursor, count) => {
        const ids = await this.scripts.quantlabListPage(index, k.runs, cursor ?? '', String(count));
        if (ids === null) throw new CursorError('the cursor names a run that no longer exists');
        return ids;
      };
    }

    const cursorId = opts.cursor ? decodeCursor(opts.cursor) : null;
    // Text with no base64url in it decodes to '', which every source reads as "from the start": a corrupt cursor is
    // refused instead of silently restarting the listing (other garbage names no run and is refused by the sources).
    if (cursorId === '') throw new CursorError('the cursor is not one this API gave out');
    if (check.length === 0) {
      const ids = await source(cursorId, opts.limit + 1);
      const page = ids.slice(0, opts.limit);
      return { ids: page, nextCursor: ids.length > opts.limit ? encodeCursor(page[page.length - 1]) : null };
    }

    const chunk = Math.max(opts.limit, 200);
    const found: string[] = [];
    let at = cursorId;
    let scanned = 0;
    for (;;) {
      const ids = await source(at, chunk + 1);
      const page = ids.slice(0, chunk);
      const more = ids.length > chunk;
      const fields = await this.fields(page, ['status', 'config', 'sweepId']);
      scanned += page.length;
      for (let i = 0; i < page.length; i++) {
        const r = fields[i];
        if (!r) continue;
        const ok =
          (!check.includes('status') || r.status === f.status) &&
          (!check.includes('dataset') || r.config?.dataset === f.dataset) &&
          (!check.includes('kind') || r.config?.representation.kind === f.kind) &&
          (!check.includes('sweepId') || r.sweepId === f.sweepId);
        if (!ok) continue;
        found.push(page[i]);
        if (found.length === opts.limit) {
          const last = page[i];
          return { ids: found, nextCursor: more || i < page.length - 1 ? encodeCursor(last) : null };
        }
      }
      if (!more) return { ids: found, nextCursor: null };
      at = page[page.length - 1];
      if (scanned >= MAX_LIST_SCAN) return { ids: found, nextCursor: encodeCursor(at) };
    }
  }

  /**
   * Brings runs stored before the indexes existed into them (once per prefix; a marker key records it). Safe while
   * other processes write: each page is indexed by one script from the runs' current fields, and status changes move
   * index entries in the same script that changes the field.
   */
  async ensureIndexes(opts: { page?: number } = {}): Promise<number> {
    if ((await this.redis.get(this.keys.indexVersion)) === INDEX_VERSION) return 0;
    const page = opts.page ?? 500;
    let n = 0;
    let seen = 0;
    for (let offset = 0; ; offset += page) {
      const ids = await this.idsPage(offset, page);
      seen += ids.length;
      if (ids.length) n += await this.scripts.quantlabIndexRuns(this.keys.runs, this.keys.runIndexPrefix, this.keys.runKeyPrefix, this.statusList, ...ids);
      if (ids.length < page) break;
    }
    // No runs, no marker: an empty namespace stays empty (runs created from now on are indexed as they are written).
    if (seen > 0) await this.redis.set(this.keys.indexVersion, INDEX_VERSION);
    return n;
  }

  private async fenced(id: string, fence: Fence | undefined, op: string, key: string, event: RunEvent | undefined, args: (string | Buffer)[]): Promise<void> {
    const ok = await this.scripts.quantlabFencedWrite(fence?.lockKey ?? '', key, fence?.token ?? '', op, event ? this.keys.events(id) : '', event ? JSON.stringify(event) : '', ...args);
    if (ok !== 1) throw new FenceLostError(id);
  }
}

async function execOrThrow(m: ReturnType<Redis['multi']>): Promise<void> {
  for (const [err] of (await m.exec()) ?? []) if (err) throw err;
}

function flatten(fields: Partial<RunFields>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = encode(v);
  return out;
}

/**
 * A run document as JSON with `status`, `baselineId` and `sweepId` first, then the other fields in stored order: a
 * reader can tell from the first bytes whether the run compares against a baseline (the API's run read does) instead
 * of searching the whole text.
 */
export function renderRunJson(doc: RunDocument): string {
  const { status, baselineId, sweepId } = doc;
  return JSON.stringify(Object.assign({ status, baselineId, sweepId }, doc));
}

function inflate(hash: Record<string, string>, epochs: string[]): RunDocument {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hash)) raw[k] = JSON.parse(v);
  raw.epochs = epochs.map((e) => JSON.parse(e)).sort((a, b) => a.epoch - b.epoch);
  // Internal bookkeeping fields are not part of the document.
  delete raw.cancelRequested;
  delete raw.rev;
  const artifact = raw.artifact as RunDocument['artifact'];
  if (artifact?.format === LEGACY_ARTIFACT_FORMAT) raw.artifact = { ...artifact, format: ARTIFACT_FORMAT_V1 };
  return raw as RunDocument;
}

export function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}
export function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString();
}
