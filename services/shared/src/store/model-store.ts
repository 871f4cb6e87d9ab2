import type { Redis } from 'ioredis';
import type { ModelGraph } from '../models/graph.ts';
import type { ParamSpec } from '../models/param-spec.ts';
import type { ModelSummary } from '../schemas/model.ts';
import { keysFor, type Keys } from './keys.ts';

/** What is stored of an uploaded model besides its weights: what GET /models shows, and what a worker builds it from. */
export interface StoredModel extends ModelSummary {
  graph: ModelGraph;
  /** In the order of the stored weights. */
  paramSpecs: ParamSpec[];
}

/** A model ready to build: its record and its weights, one Float32Array per param. */
export interface LoadedModel {
  record: StoredModel;
  weights: Float32Array[];
}

/**
 * Uploaded models in Redis, and the only code that touches their keys (keys.ts: model, modelWeights, models). A model
 * is written once, record, weights and index in one MULTI (all or nothing), and never changed; deleting removes all
 * three in one MULTI.
 */
export class ModelStore {
  readonly keys: Keys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = keysFor(prefix);
  }

  async create(record: StoredModel, weights: readonly Float32Array[]): Promise<void> {
    const total = weights.reduce((s, w) => s + w.byteLength, 0);
    const bytes = Buffer.alloc(total);
    let at = 0;
    for (const w of weights) {
      bytes.set(new Uint8Array(w.buffer, w.byteOffset, w.byteLength), at);
      at += w.byteLength;
    }
    const m = this.redis.multi();
    m.set(this.keys.model(record.id), JSON.stringify(record));
    m.set(this.keys.modelWeights(record.id), bytes);
    m.zadd(this.keys.models, Date.parse(record.createdAt), record.id);
    for (const [err] of (await m.exec()) ?? []) if (err) throw err;
  }

  async get(id: string): Promise<StoredModel | null> {
    const json = await this.redis.get(this.keys.model(id));
    return json === null ? null : (JSON.parse(json) as StoredModel);
  }

  /** The record and the weights, read in one MULTI (a model deleted meanwhile is null, never half). */
  async load(id: string): Promise<LoadedModel | null> {
    const r = await this.redis.multi().get(this.keys.model(id)).getBuffer(this.keys.modelWeights(id)).exec();
    const [json, bytes] = [r?.[0]?.[1] as string | null, r?.[1]?.[1] as Buffer | null];
    if (json === null || json === undefined || !bytes) return null;
    const record = JSON.parse(json) as StoredModel;
    // Copied out of the Buffer: aligned, one array per param.
    const all = new Float32Array(bytes.length / 4);
    new Uint8Array(all.buffer).set(bytes);
    let at = 0;
    const weights = record.paramSpecs.map((p) => {
      const n = p.shape.reduce((a, b) => a * b, 1);
      return all.slice(at, (at += n));
    });
    if (at !== all.length) throw new Error(`model ${id}: the stored weights have ${all.length} values, its params ${at}`);
    return { record, weights };
  }

  /** Summaries, newest first; the cursor is the number of models already listed. */
  async list(limit: number, cursor: string | null): Promise<{ items: ModelSummary[]; nextCursor: string | null }> {
    const from = cursor === null ? 0 : Number(cursor);
    if (!Number.isInteger(from) || from < 0) throw new RangeError(`cursor must be a non-negative integer, not ${JSON.stringify(cursor)}`);
    const ids = await this.redis.zrevrange(this.keys.models, from, from + limit);
    const page = ids.slice(0, limit);
    const jsons = page.length ? await this.redis.mget(page.map((id) => this.keys.model(id))) : [];
    const items = jsons.filter((j): j is string => j !== null).map((j) => summaryOf(JSON.parse(j) as StoredModel));
    return { items, nextCursor: ids.length > limit ? String(from + limit) : null };
  }

  /** Removes the model; false when there was none. */
  async delete(id: string): Promise<boolean> {
    const r = await this.redis.multi().del(this.keys.model(id), this.keys.modelWeights(id)).zrem(this.keys.models, id).exec();
    for (const [err] of r ?? []) if (err) throw err;
    return Number(r?.[0]?.[1] ?? 0) > 0;
  }
}

/** The record's public part (GET /models). */
export function summaryOf(r: StoredModel): ModelSummary {
  return { id: r.id, name: r.name, layers: r.layers, params: r.params, inputShape: r.inputShape, classes: r.classes, outputActivation: r.outputActivation, folded: r.folded, bytes: r.bytes, createdAt: r.createdAt };
}
