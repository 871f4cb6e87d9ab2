/**
 * A run's training state: fresh from a seed, resumed from a checkpoint, or snapshotted into one. A checkpoint resumes
 * only the work that wrote it (its config identity; see shared/config-identity.ts).
 */
import { createHash } from 'node:crypto';
import { configIdentityHash, type ExperimentConfig } from '@quantlab/shared';
import type { PreparedDataset } from '../datasets/index.ts';
import { initWeights, type Model } from '../models/index.ts';
import { Rng } from '../random.ts';
import { RunInputError } from '../errors.ts';
import { decodeCheckpoint, type CheckpointState } from './checkpoint.ts';
import type { DictionaryLearnerState } from '../representations/dictionary-learn.ts';
import { CompactMaster } from './compact-master.ts';
import type { Compactor } from './compactor.ts';

/** The key checkpoints carried before config identity had one module: still accepted, so those runs resume. */
function legacyCheckpointKey(c: ExperimentConfig): string {
  const { dataset, model, phase, representation, quantizeBiases, training } = c;
  // Older checkpoints never had a master: a float32-master config keeps the key they were written with.
  const { maxMinutes: _ignored, master, ...rest } = training;
  const t = master === 'float32' ? rest : training;
  return createHash('sha256').update(JSON.stringify({ dataset, model, phase, representation, quantizeBiases, t })).digest('hex');
}

/** The keys a checkpoint of this config may carry: its identity hash, or the key older checkpoints were written with. */
export function checkpointKeys(config: ExperimentConfig): [current: string, legacy: string] {
  return [configIdentityHash(config), legacyCheckpointKey(config)];
}

export interface RunState {
  model: Model;
  data: PreparedDataset;
  weights: Float32Array[];
  velocity: Float32Array[];
  dataRng: Rng;
  quantRng: Rng;
  epoch: number;
  trainMs: number;
  elapsedMs: number;
  imagesSeen: number;
  lastTrainLoss: number | null;
  lastTestAccuracy: number | null;
  /** A learned dictionary's entries, scales and momentum (update "gradient"), from a checkpoint. */
  learnedDictionary?: DictionaryLearnerState | null;
  /**
   * training.master "compact": the quantized params' weights as codes (the state); `weights` holds their decoded
   * working copy. null: float32 master weights.
   */
  compact: CompactMaster | null;
}

/**
 * A run's first state: weights drawn from the seed, or copies of `initial` (a pretrained model's own). With
 * `compactMaster` (training.master "compact"), the quantized params start as the codes of those weights.
 */
export function fresh(model: Model, data: PreparedDataset, seed: number, compactMaster?: Compactor | null, initial?: readonly Float32Array[]): RunState {
  const rng = new Rng(seed);
  // Forked either way, so the data and quantization streams do not depend on where the weights come from.
  const initRng = rng.fork();
  const weights = initial ? initial.map((w) => Float32Array.from(w)) : initWeights(model, initRng);
  return {
    compact: compactMaster ? new CompactMaster(compactMaster, weights) : null,
    model,
    data,
    weights,
    velocity: weights.map((w) => new Float32Array(w.length)),
    dataRng: rng.fork(),
    quantRng: rng.fork(),
    epoch: 0,
    trainMs: 0,
    elapsedMs: 0,
    imagesSeen: 0,
    lastTrainLoss: null,
    lastTestAccuracy: null,
  };
}

export function resume(bytes: Uint8Array, model: Model, data: PreparedDataset, keys: readonly string[], compactMaster?: Compactor | null): RunState {
  const s = decodeCheckpoint(bytes);
  if (!keys.includes(s.configKey)) throw new RunInputError('checkpoint: it was written by a run with a different config');
  const same = s.params.length === model.params.length && s.params.every((p, i) => p.name === model.params[i].name && p.shape.join() === model.params[i].shape.join());
  if (!same) throw new RunInputError('checkpoint: its weights do not fit the model');
  if (!compactMaster !== !s.compact) throw new RunInputError(`checkpoint: it holds ${s.compact ? 'compact' : 'float32 master'} weights, this run trains with a ${compactMaster ? 'compact' : 'float32'} master`);
  let compact: CompactMaster | null = null;
  if (compactMaster && s.compact) {
    if (s.compact.indices.join() !== compactMaster.indices.join()) throw new RunInputError('checkpoint: its compact weights are not the params this run quantizes');
    // The quantized params' working copy is decoded from the codes.
    s.compact.indices.forEach((i) => (s.weights[i] = new Float32Array(s.velocity[i].length)));
    compact = new CompactMaster(compactMaster, s.weights, s.compact);
  }
  return {
    compact,
    model,
    data,
    weights: s.weights,
    velocity: s.velocity,
    dataRng: new Rng(Uint32Array.from(s.dataRng)),
    quantRng: new Rng(Uint32Array.from(s.quantRng)),
    epoch: s.epoch,
    trainMs: s.trainMs,
    elapsedMs: s.elapsedMs ?? s.trainMs,
    imagesSeen: s.imagesSeen,
    lastTrainLoss: s.lastTrainLoss,
    lastTestAccuracy: s.lastTestAccuracy,
    learnedDictionary: s.learnedDictionary ?? null,
  };
}

export function snapshot(s: RunState, configKey: string, learnedDictionary: DictionaryLearnerState | null = null): CheckpointState {
  return {
    ...(s.compact ? { compact: { ...s.compact.snapshot, indices: s.compact.compactor.indices } } : {}),
    epoch: s.epoch,
    configKey,
    params: s.model.params.map((p) => ({ name: p.name, shape: p.shape })),
    dataRng: Array.from(s.dataRng.state),
    quantRng: Array.from(s.quantRng.state),
    trainMs: s.trainMs,
    elapsedMs: s.elapsedMs,
    imagesSeen: s.imagesSeen,
    lastTrainLoss: s.lastTrainLoss,
    lastTestAccuracy: s.lastTestAccuracy,
    weights: s.weights,
    velocity: s.velocity,
    ...(learnedDictionary ? { learnedDictionary } : {}),
  };
}

/**
 * The bytes training holds for weights plus optimizer state (RunMetrics.trainingStateBytes): the arrays of `s`
 * themselves. compact: the float32 master weights, or with a compact master its codes, steps or scales and
 * dictionaries plus the params kept in float32; and the float32 momentum of every param. float32: the same run with
 * float32 weights (4 bytes a param) and the same momentum. The decoded working copy is not state (compact-master.ts).
 */
export function trainingStateBytes(s: RunState): { float32: number; compact: number } {
  const sum = (as: readonly ArrayBufferView[]) => as.reduce((n, a) => n + a.byteLength, 0);
  const momentum = sum(s.velocity);
  const float32 = 4 * s.weights.reduce((n, w) => n + w.length, 0) + momentum;
  if (!s.compact) return { float32, compact: sum(s.weights) + momentum };
  const held = new Set(s.compact.compactor.indices);
  return { float32, compact: sum(s.weights.filter((_, i) => !held.has(i))) + s.compact.bytes + momentum };
}
