/**
 * A run's state after an epoch, from which any worker can resume: master weights, momentum buffers, the epoch, the
 * project Rng states, and running totals. Layout: "QLCK", u32 version, u32 header length, header JSON (UTF-8),
 * zero padding to 4 bytes, then float32 little-endian arrays: every master weight tensor, then every velocity.
 * No quantizer state as a rule: a quantizer's fit is a function of the master weights alone, and the loop refits at
 * the start of every epoch, so a resumed run refits exactly as the uninterrupted one does; stochastic rounding draws
 * from quantRng, which is saved. The exception is a learned dictionary (update "gradient"), whose trained entries and
 * scales are no function of the weights: the header carries them (`learnedDictionary`).
 */
import type { DictionaryLearnerState } from '../representations/dictionary-learn.ts';
import { RunInputError } from './types.ts';

const MAGIC = 0x4b434c51; // "QLCK" little-endian
const VERSION = 1;

export interface CheckpointState {
  /** Epochs finished. */
  epoch: number;
  /** sha256 of the training-relevant config: a checkpoint only resumes the run it came from. */
  configKey: string;
  params: { name: string; shape: number[] }[];
  dataRng: number[];
  quantRng: number[];
  /** Totals over all finished epochs, so a resumed run reports whole-run figures. */
  trainMs: number;
  /** Training plus evaluation time. */
  elapsedMs: number;
  imagesSeen: number;
  lastTrainLoss: number | null;
  lastTestAccuracy: number | null;
  weights: Float32Array[];
  velocity: Float32Array[];
  /** update "gradient": the trained dictionary (absent otherwise). */
  learnedDictionary?: DictionaryLearnerState;
}

export function encodeCheckpoint(s: CheckpointState): Uint8Array {
  const { weights, velocity, ...rest } = s;
  const header = new TextEncoder().encode(JSON.stringify(rest));
  const headerEnd = 12 + header.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const floats = weights.reduce((n, w) => n + w.length, 0) * 2;
  const out = new Uint8Array(dataStart + floats * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.length, true);
  out.set(header, 12);
  const data = new Float32Array(out.buffer, dataStart, floats);
  let at = 0;
  for (const a of [...weights, ...velocity]) {
    data.set(a, at);
    at += a.length;
  }
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array): CheckpointState {
  const fail = (why: string): never => {
    throw new RunInputError(`checkpoint: ${why}`);
  };
  if (bytes.length < 12) fail('too short');
  const copy = new Uint8Array(bytes); // aligned, and independent of the caller's buffer
  const view = new DataView(copy.buffer);
  if (view.getUint32(0, true) !== MAGIC) fail('not a quantlab checkpoint');
  if (view.getUint32(4, true) !== VERSION) fail(`unsupported version ${view.getUint32(4, true)}`);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > copy.length) fail('truncated header');
  const header = JSON.parse(new TextDecoder().decode(copy.subarray(12, 12 + headerLength))) as Omit<CheckpointState, 'weights' | 'velocity'>;
  const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
  const sizes = header.params.map((p) => p.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (copy.length !== dataStart + total * 8) fail(`expected ${dataStart + total * 8} bytes, got ${copy.length}`);
  const data = new Float32Array(copy.buffer, dataStart, total * 2);
  let at = 0;
  const take = () =>
    sizes.map((n) => {
      const a = data.slice(at, at + n);
      at += n;
      return a;
    });
  const weights = take();
  const velocity = take();
  return { ...header, weights, velocity };
}
