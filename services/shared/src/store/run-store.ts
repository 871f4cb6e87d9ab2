import type { Redis } from 'ioredis';
import { RUN_STATUSES, RunDocument, type EpochMetrics, type RunStatus } from '../schemas/run.ts';
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

export type RunEvent =
  | { type: 'status'; runId: string; status: RunStatus; error?: { message: string } | null }
  | { type: 'progress'; runId: string; progress: RunDocument['progress'] }
  | { type: 'epoch'; runId: string; epoch: EpochMetrics };

type RunFields = Omit<RunDocument, 'epochs'>;

// KEYS[1] lock key ('' = unfenced), KEYS[2] target; ARGV[1] token, ARGV[2] op, ARGV[3] channel, ARGV[4] message, rest: args.
// Checking the lock and writing in one script is what keeps a zombie trainer from writing after it lost the job.
const FENCED_WRITE = `
if KEYS[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local args = {}
for i = 5, #ARGV do args[#args + 1] = ARGV[i] end
redis.call(ARGV[2], KEYS[2], unpack(args))
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
`;

// KEYS[1] the runs index; ARGV[1] the run key prefix. Counts statuses server-side: one call whatever the number of runs.
// (Reads keys it is not given, so not Redis Cluster-safe; status indexes would make it O(statuses).)
const COUNT_BY_STATUS = `
local counts = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local s = redis.call('HGET', ARGV[1] .. id, 'status')
  if s then counts[s] = (counts[s] or 0) + 1 end
end
local out = {}
for s, n in pairs(counts) do out[#out + 1] = s; out[#out + 1] = n end
return out
`;

const encode = (v: unknown) => JSON.stringify(v ?? null);

/** The results store: run documents, their epochs, artifacts and checkpoints, in Redis under the project's keys. */
export class RunStore {
  readonly keys: Keys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = keysFor(prefix);
    if (!('quantlabFencedWrite' in redis)) {
      redis.defineCommand('quantlabFencedWrite', { numberOfKeys: 2, lua: FENCED_WRITE });
    }
    if (!('quantlabCountByStatus' in redis)) {
      redis.defineCommand('quantlabCountByStatus', { numberOfKeys: 1, lua: COUNT_BY_STATUS });
    }
  }

  async create(doc: RunDocument, extra: { score?: number } = {}): Promise<void> {
    const { epochs: _epochs, ...fields } = doc;
    const m = this.redis.multi();
    m.hset(this.keys.run(doc.id), flatten(fields));
    m.zadd(this.keys.runs, extra.score ?? Date.parse(doc.createdAt), doc.id);
    await m.exec();
  }

  /** Several runs in one MULTI: a sweep's runs appear together or not at all. */
  async createMany(docs: readonly RunDocument[]): Promise<void> {
    const m = this.redis.multi();
    for (const { epochs: _epochs, ...fields } of docs) {
      m.hset(this.keys.run(fields.id), flatten(fields));
      m.zadd(this.keys.runs, Date.parse(fields.createdAt), fields.id);
    }
    for (const [err] of (await m.exec()) ?? []) if (err) throw err;
  }

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

  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.run(id))) === 1;
  }

  /** Sets top-level fields of a run; with a fence, only while the caller holds the job's lock. */
  async update(id: string, patch: Partial<RunFields>, fence?: Fence, event?: RunEvent): Promise<void> {
    const args = Object.entries(flatten(patch)).flat();
    if (args.length === 0) return;
    await this.fenced(id, fence, 'HSET', this.keys.run(id), event, args);
  }

  /** Records an epoch exactly once (keyed by its number) and moves progress with it. */
  async addEpoch(id: string, epoch: EpochMetrics, epochs: number, fence?: Fence): Promise<void> {
    await this.fenced(id, fence, 'HSET', this.keys.epochs(id), { type: 'epoch', runId: id, epoch }, [
      String(epoch.epoch),
      JSON.stringify(epoch),
    ]);
    await this.update(id, { progress: { epoch: epoch.epoch, epochs, fraction: Math.min(1, epoch.epoch / epochs) } }, fence);
  }

  async setArtifact(id: string, bytes: Uint8Array, fence?: Fence): Promise<void> {
    await this.fenced(id, fence, 'SET', this.keys.artifact(id), undefined, [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
  }

  async getArtifact(id: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys.artifact(id));
  }

  async saveCheckpoint(id: string, bytes: Uint8Array, fence?: Fence): Promise<void> {
    await this.fenced(id, fence, 'SET', this.keys.checkpoint(id), undefined, [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
  }

  async loadCheckpoint(id: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys.checkpoint(id));
  }

  async deleteCheckpoint(id: string): Promise<void> {
    await this.redis.del(this.keys.checkpoint(id));
  }

  /** Removes everything stored for a run. */
  async delete(id: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.run(id), this.keys.epochs(id), this.keys.artifact(id), this.keys.checkpoint(id))
      .zrem(this.keys.runs, id)
      .exec();
  }

  /** Newest first. The cursor names the last run of the previous page, so runs created meanwhile do not shift pages. */
  async listIds(opts: { limit: number; cursor?: string | null }): Promise<{ ids: string[]; nextCursor: string | null }> {
    let start = 0;
    if (opts.cursor) {
      const rank = await this.redis.zrevrank(this.keys.runs, decodeCursor(opts.cursor));
      if (rank === null) throw new RangeError('the cursor names a run that no longer exists');
      start = rank + 1;
    }
    const ids = await this.redis.zrevrange(this.keys.runs, start, start + opts.limit);
    const page = ids.slice(0, opts.limit);
    const nextCursor = ids.length > opts.limit ? encodeCursor(page[page.length - 1]) : null;
    return { ids: page, nextCursor };
  }

  /** Runs by status, every status present (0 when none), in one Redis call. */
  async countByStatus(): Promise<Record<RunStatus, number>> {
    const flat = await (this.redis as unknown as FencedRedis).quantlabCountByStatus(this.keys.runs, this.keys.run(''));
    const out = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
    for (let i = 0; i < flat.length; i += 2) {
      const s = JSON.parse(String(flat[i])) as RunStatus;
      if (s in out) out[s] = Number(flat[i + 1]);
    }
    return out;
  }

  async publish(event: RunEvent): Promise<void> {
    await this.redis.publish(this.keys.events(event.runId), JSON.stringify(event));
  }

  private async fenced(id: string, fence: Fence | undefined, op: string, key: string, event: RunEvent | undefined, args: (string | Buffer)[]): Promise<void> {
    const ok = await (this.redis as unknown as FencedRedis).quantlabFencedWrite(
      fence?.lockKey ?? '',
      key,
      fence?.token ?? '',
      op,
      event ? this.keys.events(id) : '',
      event ? JSON.stringify(event) : '',
      ...args,
    );
    if (ok !== 1) throw new FenceLostError(id);
  }
}

interface FencedRedis {
  quantlabFencedWrite(lockKey: string, key: string, token: string, op: string, channel: string, message: string, ...args: (string | Buffer)[]): Promise<number>;
  quantlabCountByStatus(runsKey: string, runKeyPrefix: string): Promise<(string | number)[]>;
}

function flatten(fields: Partial<RunFields>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = encode(v);
  return out;
}

function inflate(hash: Record<string, string>, epochs: string[]): RunDocument {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hash)) raw[k] = JSON.parse(v);
  raw.epochs = epochs.map((e) => JSON.parse(e)).sort((a, b) => a.epoch - b.epoch);
  // Internal bookkeeping fields are not part of the document.
  delete raw.cancelRequested;
  return raw as RunDocument;
}

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}
function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString();
}


