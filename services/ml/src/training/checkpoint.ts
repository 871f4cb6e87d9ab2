/**
 * A run's state after an epoch, from which any worker can resume: master weights, momentum buffers, the epoch, the
 * project Rng states, and running totals. Layout: "QLCK", u32 version, u32 header length, header JSON (UTF-8),
 * zero padding to 4 bytes, then float32 little-endian arrays: every master weight tensor, then every velocity.
 * No quantizer state as a rule: a quantizer's fit is a function of the master weights alone, and the loop refits at
 * the start of every epoch, so a resumed run refits exactly as the uninterrupted one does; stochastic rounding draws
 * from quantRng, which is saved. The exception is a learned dictionary (update "gradient"), whose trained entries and
 * scales are no function of the weights: the header carries them (`learnedDictionary`).
 *
 * Version 2 (written only by compact-master runs, training.master "compact") holds the compact weights instead of a
 * float32 master for the quantized params: the header's `compact` lists them; after the header, zero padding to 8
 * bytes, then float64 scales (each quantized param's steps or scales), float32 weights of the other params, float32
 * velocity of every param, float32 dictionaries, and the codes (little-endian, `codeType` wide). The refit at the
 * start of the next epoch reads only the decoded weights, which the codes give exactly.
 */
import type { DictionaryLearnerState } from '../representations/dictionary-learn.ts';
import { RunInputError } from './types.ts';
import { CODE_TYPES, newCodeArray, type CodeType, type CompactMasterState } from './compact-master.ts';

const MAGIC = 0x4b434c51; // "QLCK" little-endian
const VERSION = 1;
const VERSION_COMPACT = 2;

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
  /** Master weights in param order; with `compact`, empty at the quantized params (their codes hold them). */
  weights: Float32Array[];
  velocity: Float32Array[];
  /** update "gradient": the trained dictionary (absent otherwise). */
  learnedDictionary?: DictionaryLearnerState;
  /** A compact-master run's compact weights; `indices` are the quantized params. */
  compact?: CompactMasterState & { indices: number[] };
}

/** Header of a version-2 checkpoint: where the compact arrays are and how long each is. */
interface CompactHeader {
  indices: number[];
  codeType: CodeType;
  scaleLengths: number[];
  dictionaryLengths: number[];
}

export function encodeCheckpoint(s: CheckpointState): Uint8Array {
  if (s.compact) return encodeCompact(s);
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
  const version = view.getUint32(4, true);
  if (version !== VERSION && version !== VERSION_COMPACT) fail(`unsupported version ${version}`);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > copy.length) fail('truncated header');
  if (version === VERSION_COMPACT) return decodeCompact(copy, headerLength, fail);
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

const CODE_BYTES: Record<CodeType, number> = { i8: 1, i16: 2, i32: 4, u8: 1, u16: 2 };
const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const align8 = (n: number) => Math.ceil(n / 8) * 8;

function encodeCompact(s: CheckpointState): Uint8Array {
  const { weights, velocity, compact, ...rest } = s;
  const c = compact!;
  const header: Omit<CheckpointState, 'weights' | 'velocity' | 'compact'> & { compact: CompactHeader } = {
    ...rest,
    compact: { indices: c.indices, codeType: c.codeType, scaleLengths: c.scales.map((a) => a.length), dictionaryLengths: c.dictionaries.map((a) => a.length) },
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const held = new Set(c.indices);
  const floats = [...weights.filter((_, i) => !held.has(i)), ...velocity, ...c.dictionaries];
  const parts: ArrayBufferView[] = [...c.scales, ...floats, ...c.codes];
  const dataStart = align8(12 + json.length);
  const out = new Uint8Array(dataStart + parts.reduce((n, a) => n + a.byteLength, 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION_COMPACT, true);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  // Typed arrays are little-endian on every platform Node runs on (the version-1 layout relies on it too).
  let at = dataStart;
  for (const a of parts) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  return out;
}

function decodeCompact(copy: Uint8Array, headerLength: number, fail: (why: string) => never): CheckpointState {
  const header = JSON.parse(new TextDecoder().decode(copy.subarray(12, 12 + headerLength))) as Omit<CheckpointState, 'weights' | 'velocity' | 'compact'> & { compact: CompactHeader };
  const { compact: h, ...rest } = header;
  const counts = (a: unknown) => Array.isArray(a) && a.every((n) => Number.isInteger(n) && n >= 0);
  if (!h || !CODE_TYPES.includes(h.codeType) || !counts(h.indices) || h.indices.some((i) => !header.params[i]) || !counts(h.scaleLengths) || !counts(h.dictionaryLengths) || h.scaleLengths.length !== h.indices.length) {
    fail('its compact weights are not described');
  }
  const held = new Set(h.indices);
  const sizes = header.params.map((p) => sizeOf(p.shape));
  const scaleFloats = h.scaleLengths.reduce((a, b) => a + b, 0);
  const f32 = sizes.reduce((n, size, i) => n + (held.has(i) ? 0 : size), 0) + sizes.reduce((a, b) => a + b, 0) + h.dictionaryLengths.reduce((a, b) => a + b, 0);
  const codes = h.indices.reduce((n, i) => n + sizes[i], 0);
  const dataStart = align8(12 + headerLength);
  const expected = dataStart + scaleFloats * 8 + f32 * 4 + codes * CODE_BYTES[h.codeType];
  if (copy.length !== expected) fail(`expected ${expected} bytes, got ${copy.length}`);
  let at = dataStart;
  const take = <T>(n: number, bytes: number, make: (buf: ArrayBuffer, offset: number, n: number) => T): T => {
    const out = make((copy.buffer as ArrayBuffer).slice(at, at + n * bytes), 0, n);
    at += n * bytes;
    return out;
  };
  const scales = h.scaleLengths.map((n) => take(n, 8, (b, o, k) => new Float64Array(b, o, k)));
  const weights = sizes.map((n, i) => (held.has(i) ? new Float32Array(0) : take(n, 4, (b, o, k) => new Float32Array(b, o, k))));
  const velocity = sizes.map((n) => take(n, 4, (b, o, k) => new Float32Array(b, o, k)));
  const dictionaries = h.dictionaryLengths.map((n) => take(n, 4, (b, o, k) => new Float32Array(b, o, k)));
  const codeArrays = h.indices.map((i) => {
    const out = newCodeArray(h.codeType, sizes[i]);
    const bytes = sizes[i] * CODE_BYTES[h.codeType];
    new Uint8Array(out.buffer).set(copy.subarray(at, at + bytes));
    at += bytes;
    return out;
  });
  return { ...rest, weights, velocity, compact: { indices: h.indices, codeType: h.codeType, codes: codeArrays, scales, dictionaries } };
}
