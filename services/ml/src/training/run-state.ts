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

/** The key checkpoints carried before config identity had one module: still accepted, so those runs resume. */
function legacyCheckpointKey(c: ExperimentConfig): string {
  const { dataset, model, phase, representation, quantizeBiases, training } = c;
  const { maxMinutes: _ignored, ...t } = training;
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
}

/** A run's first state: weights drawn from the seed, or copies of `initial` (a pretrained model's own). */
export function fresh(model: Model, data: PreparedDataset, seed: number, initial?: readonly Float32Array[]): RunState {
  const rng = new Rng(seed);
  // Forked either way, so the data and quantization streams do not depend on where the weights come from.
  const initRng = rng.fork();
  const weights = initial ? initial.map((w) => Float32Array.from(w)) : initWeights(model, initRng);
  return {
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

export function resume(bytes: Uint8Array, model: Model, data: PreparedDataset, keys: readonly string[]): RunState {
  const s = decodeCheckpoint(bytes);
  if (!keys.includes(s.configKey)) throw new RunInputError('checkpoint: it was written by a run with a different config');
  const same = s.params.length === model.params.length && s.params.every((p, i) => p.name === model.params[i].name && p.shape.join() === model.params[i].shape.join());
  if (!same) throw new RunInputError('checkpoint: its weights do not fit the model');
  return {
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
  };
}

export function snapshot(s: RunState, configKey: string): CheckpointState {
  return {
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
  };
}
