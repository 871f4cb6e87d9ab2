// In-memory fakes of the store, the queue and the worker's context, for the fast tier (no Redis, no training).
// They keep the contracts the real ones keep (fences, no re-creation of a deleted run, cursors naming a run) so that a
// use case tested against them behaves the same on Redis; test/store.run-store.test.ts tests the real store.
import {
  CursorError,
  decodeCursor,
  encodeCursor,
  FenceLostError,
  FINAL_STATUSES,
  type EpochMetrics,
  type Fence,
  type RunDocument,
  type RunEvent,
  type RunFields,
  type RunFilter,
  type RunStatus,
  type SweepRecord,
  type SweepRead,
  type ModelSummary,
  type StoredModel,
  summaryOf,
} from '@quantlab/shared';
import type { ModelStorePort, RunStorePort, SweepStorePort } from '@quantlab/api/services/deps';
import type { RunWriter } from '@quantlab/worker/jobs/context';

type Stored = RunFields & { cancelRequested?: boolean };

export class FakeRunStore implements RunStorePort, RunWriter {
  readonly runs = new Map<string, Stored>();
  readonly epochs = new Map<string, Map<number, EpochMetrics>>();
  readonly artifacts = new Map<string, Buffer>();
  readonly checkpoints = new Map<string, Buffer>();
  /** Job locks: lock key -> token (what BullMQ keeps in Redis). */
  readonly locks = new Map<string, string>();
  readonly events: RunEvent[] = [];
  /** Every write, in order: [method, run id]. */
  readonly writes: [string, string][] = [];

  private check(id: string, fence?: Fence): void {
    if (fence && this.locks.get(fence.lockKey) !== fence.token) throw new FenceLostError(id);
  }

  async createMany(docs: readonly RunDocument[]): Promise<void> {
    for (const { epochs: _e, ...fields } of docs) {
      this.runs.set(fields.id, structuredClone(fields));
      this.writes.push(['create', fields.id]);
    }
  }
  async create(doc: RunDocument): Promise<void> {
    await this.createMany([doc]);
  }
  /** `also` adds to the same MULTI on Redis (the sweep record); here it gets no transaction to add to. */
  async importMany(items: readonly { doc: RunDocument; artifact?: Buffer | null }[], also?: (m: never) => void): Promise<void> {
    for (const { doc, artifact } of items) {
      await this.createMany([doc]);
      this.epochs.set(doc.id, new Map(doc.epochs.map((e) => [e.epoch, e])));
      if (artifact) this.artifacts.set(doc.id, artifact);
    }
    also?.(undefined as never);
  }
  private importClaimed = false;
  async claimImport(): Promise<(() => Promise<void>) | null> {
    if (this.importClaimed) return null;
    this.importClaimed = true;
    return async () => void (this.importClaimed = false);
  }
  async failIfUnfinished(id: string, message: string): Promise<boolean> {
    const status = this.runs.get(id)?.status;
    if (status !== 'queued' && status !== 'running') return false;
    await this.update(id, { status: 'failed', error: { message }, finishedAt: new Date().toISOString() });
    return true;
  }
  async update(id: string, patch: Partial<RunFields>, fence?: Fence, event?: RunEvent): Promise<boolean> {
    this.check(id, fence);
    const run = this.runs.get(id);
    if (!run) {
      if (fence) throw new FenceLostError(id);
      return false;
    }
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) (run as Record<string, unknown>)[k] = structuredClone(v);
    // As the store's script: a final status drops the checkpoint in the same step.
    if (patch.status && FINAL_STATUSES.includes(patch.status)) this.checkpoints.delete(id);
    this.writes.push(['update', id]);
    if (event) this.events.push(event);
    return true;
  }
  async addEpoch(id: string, epoch: EpochMetrics, epochs: number, fence?: Fence): Promise<void> {
    this.check(id, fence);
    const run = this.runs.get(id);
    if (!run) throw new FenceLostError(id);
    if (!this.epochs.has(id)) this.epochs.set(id, new Map());
    this.epochs.get(id)!.set(epoch.epoch, epoch);
    run.progress = { epoch: epoch.epoch, epochs, fraction: Math.min(1, epoch.epoch / epochs) };
    this.writes.push(['addEpoch', id]);
    this.events.push({ type: 'epoch', runId: id, epoch });
  }
  async requestCancel(id: string): Promise<boolean> {
    const run = this.runs.get(id);
    if (!run) return false;
    run.cancelRequested = true;
    this.writes.push(['requestCancel', id]);
    return true;
  }
  async isCancelRequested(id: string): Promise<boolean> {
    return this.runs.get(id)?.cancelRequested === true;
  }
  async setArtifact(id: string, bytes: Uint8Array, fence?: Fence): Promise<void> {
    this.check(id, fence);
    this.artifacts.set(id, Buffer.from(bytes));
    this.writes.push(['setArtifact', id]);
  }
  async getArtifact(id: string): Promise<Buffer | null> {
    return this.artifacts.get(id) ?? null;
  }
  async saveCheckpoint(id: string, bytes: Uint8Array, fence?: Fence): Promise<void> {
    this.check(id, fence);
    this.checkpoints.set(id, Buffer.from(bytes));
    this.writes.push(['saveCheckpoint', id]);
  }
  async loadCheckpoint(id: string): Promise<Buffer | null> {
    return this.checkpoints.get(id) ?? null;
  }
  async delete(id: string, opts: { lockKey?: string } = {}): Promise<boolean> {
    const existed = this.runs.delete(id);
    this.epochs.delete(id);
    this.artifacts.delete(id);
    this.checkpoints.delete(id);
    if (opts.lockKey) this.locks.delete(opts.lockKey);
    this.writes.push(['delete', id]);
    return existed;
  }
  async revokeFence(lockKey: string): Promise<void> {
    this.locks.delete(lockKey);
  }
  async get(id: string): Promise<RunDocument | null> {
    return (await this.getMany([id]))[0] ?? null;
  }
  async getMany(ids: readonly string[]): Promise<RunDocument[]> {
    return this.getManySync(ids);
  }
  private getManySync(ids: readonly string[]): RunDocument[] {
    return ids.flatMap((id) => {
      const run = this.runs.get(id);
      if (!run) return [];
      const { cancelRequested: _c, ...fields } = structuredClone(run);
      return [{ ...fields, epochs: [...(this.epochs.get(id)?.values() ?? [])].sort((a, b) => a.epoch - b.epoch) }];
    });
  }
  async getJson(ids: readonly string[]): Promise<(string | null)[]> {
    return ids.map((id) => {
      const [doc] = this.getManySync([id]);
      return doc ? JSON.stringify(doc) : null;
    });
  }
  async getJsonOne(id: string): Promise<string | null> {
    return (await this.getJson([id]))[0];
  }
  async fields<K extends keyof RunFields>(ids: readonly string[], names: readonly K[]): Promise<(Pick<RunFields, K> | null)[]> {
    return ids.map((id) => {
      const run = this.runs.get(id);
      if (!run) return null;
      return Object.fromEntries(names.map((n) => [n, structuredClone(run[n]) ?? null])) as Pick<RunFields, K>;
    });
  }
  async status(id: string): Promise<RunStatus | null> {
    return this.runs.get(id)?.status ?? null;
  }
  async exists(id: string): Promise<boolean> {
    return this.runs.has(id);
  }
  async epochCount(id: string): Promise<number> {
    return this.epochs.get(id)?.size ?? 0;
  }
  /** Newest first (creation time, then id, as the Redis zsets order them). */
  private newestFirst(): string[] {
    return [...this.runs.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : -1)).map((r) => r.id);
  }
  async listIds(opts: { limit: number; cursor?: string | null; filter?: RunFilter; order?: readonly string[] }): Promise<{ ids: string[]; nextCursor: string | null }> {
    const all = opts.order ? [...opts.order].reverse() : this.newestFirst();
    let start = 0;
    if (opts.cursor) {
      const at = all.indexOf(decodeCursor(opts.cursor));
      if (at < 0) throw new CursorError('the cursor names a run that no longer exists');
      start = at + 1;
    }
    const f = opts.filter ?? {};
    const ok = (id: string) => {
      const r = this.runs.get(id);
      return !!r && (!f.status || r.status === f.status) && (!f.dataset || r.config.dataset === f.dataset) && (!f.kind || r.config.representation.kind === f.kind) && (!f.sweepId || r.sweepId === f.sweepId);
    };
    const rest = all.slice(start).filter(ok);
    const ids = rest.slice(0, opts.limit);
    return { ids, nextCursor: rest.length > opts.limit ? encodeCursor(ids[ids.length - 1]) : null };
  }
  async sweepMembers(sweepId: string): Promise<string[]> {
    return [...this.runs.values()].filter((r) => r.sweepId === sweepId).map((r) => r.id);
  }
  async idsByStatusCreatedBefore(status: RunStatus, before: number, offset: number, count: number): Promise<{ id: string; score: number }[]> {
    return [...this.runs.values()]
      .filter((r) => r.status === status && Date.parse(r.createdAt) < before)
      .map((r) => ({ id: r.id, score: Date.parse(r.createdAt) }))
      .sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : 1))
      .slice(offset, offset + count);
  }
  async idsPage(offset: number, count: number): Promise<string[]> {
    return this.newestFirst().reverse().slice(offset, offset + count);
  }
}

export class FakeSweepStore implements SweepStorePort {
  readonly sweeps = new Map<string, SweepRecord>();
  async create(s: SweepRecord): Promise<void> {
    this.sweeps.set(s.id, structuredClone(s));
  }
  queueCreate(_m: unknown, s: SweepRecord): void {
    this.sweeps.set(s.id, structuredClone(s));
  }
  async get(id: string): Promise<SweepRecord | null> {
    const s = this.sweeps.get(id);
    return s ? structuredClone(s) : null;
  }
  async getMany(ids: readonly string[]): Promise<SweepRecord[]> {
    return ids.flatMap((id) => (this.sweeps.has(id) ? [structuredClone(this.sweeps.get(id)!)] : []));
  }
  async delete(id: string): Promise<void> {
    this.sweeps.delete(id);
  }
  async editRuns(sweepId: string, pairs: [string, string][]): Promise<number> {
    const s = this.sweeps.get(sweepId);
    if (!s) return 0;
    for (const [old, neu] of pairs) {
      const found = s.runIds.includes(old);
      s.runIds = s.runIds.flatMap((id) => (id === old ? (neu ? [neu] : []) : [id]));
      if (!found && neu && old === '') s.runIds.push(neu);
      for (const [seed, id] of Object.entries(s.baselines)) if (id === old && neu) s.baselines[seed] = neu;
    }
    return s.runIds.length;
  }
  /** Keeps no rendered documents: every read renders (the caching itself is tested against Redis). */
  async readDocument(id: string): Promise<SweepRead | null> {
    const s = this.sweeps.get(id);
    return s ? { json: null, record: structuredClone(s), rev: '' } : null;
  }
  async cacheDocument(): Promise<boolean> {
    return false;
  }
  async listIds(opts: { limit: number; cursor?: string | null }): Promise<{ ids: string[]; nextCursor: string | null }> {
    const all = [...this.sweeps.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)).map((s) => s.id);
    const start = opts.cursor ? all.indexOf(decodeCursor(opts.cursor)) + 1 : 0;
    const ids = all.slice(start, start + opts.limit);
    return { ids, nextCursor: start + opts.limit < all.length ? encodeCursor(ids[ids.length - 1]) : null };
  }
}

export interface FakeJob {
  id: string;
  name: string;
  data: unknown;
  opts: Record<string, unknown>;
  state: 'waiting' | 'active' | 'completed' | 'failed';
}

/** The run queue as the use cases see it (add, addBulk, getJob with remove/isCompleted/isFailed). */
export class FakeQueue {
  readonly jobs = new Map<string, FakeJob>();

  /** isLocked: whether a worker holds the job's lock (then remove() refuses, as BullMQ's does). */
  constructor(private readonly isLocked: (jobId: string) => boolean = () => false) {}

  /** When set, add and addBulk fail with it (Redis away). */
  failWith: Error | null = null;

  async add(name: string, data: unknown, opts: Record<string, unknown> = {}) {
    if (this.failWith) throw this.failWith;
    const id = String(opts.jobId);
    if (!this.jobs.has(id)) this.jobs.set(id, { id, name, data, opts, state: 'waiting' });
    return this.getJob(id);
  }
  async addBulk(jobs: { name: string; data: unknown; opts?: Record<string, unknown> }[]) {
    if (this.failWith) throw this.failWith;
    for (const j of jobs) await this.add(j.name, j.data, j.opts);
    return [];
  }
  /** Removes a job unless a worker holds it (BullMQ's Queue.remove: 1 removed, 0 not). */
  async remove(id: string): Promise<number> {
    if (!this.jobs.has(id) || this.isLocked(id)) return 0;
    this.jobs.delete(id);
    return 1;
  }
  async getJob(id: string) {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    return {
      id,
      data: job.data,
      remove: async () => {
        if (this.isLocked(id)) throw new Error(`job ${id} is locked by another worker`);
        this.jobs.delete(id);
      },
      isCompleted: async () => job.state === 'completed',
      isFailed: async () => job.state === 'failed',
    };
  }
}

/** Uploaded models in memory (test/api.models.test.ts tests the real ModelStore on Redis). */
export class FakeModelStore implements ModelStorePort {
  readonly models = new Map<string, { record: StoredModel; weights: Float32Array[] }>();

  async create(record: StoredModel, weights: readonly Float32Array[]): Promise<void> {
    this.models.set(record.id, { record: structuredClone(record), weights: weights.map((w) => w.slice()) });
  }
  async get(id: string): Promise<StoredModel | null> {
    return structuredClone(this.models.get(id)?.record) ?? null;
  }
  async list(limit: number, cursor: string | null): Promise<{ items: ModelSummary[]; nextCursor: string | null }> {
    const all = [...this.models.values()].map((m) => m.record).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    const from = cursor === null ? 0 : Number(cursor);
    return { items: all.slice(from, from + limit).map(summaryOf), nextCursor: all.length > from + limit ? String(from + limit) : null };
  }
  async delete(id: string): Promise<boolean> {
    return this.models.delete(id);
  }
}
