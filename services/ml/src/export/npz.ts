/**
 * `.npz` export: the artifact's compact contents as NumPy arrays in a zip (what `numpy.load` opens), for readers
 * outside quantlab (clients/python/quantlab_client/artifact.py decodes it with NumPy alone). Per layer, under its
 * param name `N`:
 * - float32: `N/values` (float32, the layer's shape);
 * - fixed point: `N/codes` (int8 up to 8 bits, int16 up to 16, else int32; the layer's shape) and `N/steps` (float64,
 *   one or one per output channel);
 * - dictionary: `N/codes` (uint8 up to 256 entries, else uint16) and `N/scales` (float64), the codebook in
 *   `dictionaries/D` (float32);
 * plus `metadata.json`: the format name, the representation, the artifact's meta, and per layer its name, encoding,
 * bits, shape and dictionary. Decoding: value i = codes[i] × steps[i mod S] (or codebook[codes[i]] × scales[i mod S]),
 * in float64, rounded to float32 — bit for bit what the project's decoder gives.
 */
import { strToU8, zipSync } from 'fflate';
import type { DecodedArtifact } from '../artifact/index.ts';
import { ZIP_MTIME } from './model.ts';

export const NPZ_FORMAT = 'quantlab-npz/1';

type NpyArray = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array;

function descr(a: NpyArray): string {
  if (a instanceof Float32Array) return '<f4';
  if (a instanceof Float64Array) return '<f8';
  if (a instanceof Int8Array) return '|i1';
  if (a instanceof Int16Array) return '<i2';
  if (a instanceof Int32Array) return '<i4';
  if (a instanceof Uint8Array) return '|u1';
  return '<u2';
}

/** One `.npy` file, format version 1.0 (header padded so the data starts on a 64-byte boundary). */
export function npy(a: NpyArray, shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr(a)}', 'fortran_order': False, 'shape': ${dims}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + a.byteLength);
  out.set([0x93, ...strToU8('NUMPY'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(strToU8(header), 10);
  out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), 10 + header.length);
  return out;
}

/** Needs no model graph: any artifact exports to .npz. */
export function toNpz(artifact: DecodedArtifact): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  artifact.dictionaries.forEach((entries, d) => (files[`dictionaries/${d}.npy`] = npy(entries, [entries.length])));
  const layers = artifact.layers.map((l) => {
    if (l.encoding === 'float32' || !l.codes) {
      files[`${l.name}/values.npy`] = npy(l.values, l.shape);
    } else if (l.encoding === 'fixed') {
      const codes = l.bits <= 8 ? Int8Array.from(l.codes) : l.bits <= 16 ? Int16Array.from(l.codes) : l.codes;
      files[`${l.name}/codes.npy`] = npy(codes, l.shape);
      files[`${l.name}/steps.npy`] = npy(l.scales, [l.scales.length]);
    } else {
      const entries = artifact.dictionaries[l.dictionary!].length;
      files[`${l.name}/codes.npy`] = npy(entries > 256 ? Uint16Array.from(l.codes) : Uint8Array.from(l.codes), l.shape);
      files[`${l.name}/scales.npy`] = npy(l.scales, [l.scales.length]);
    }
    return { name: l.name, encoding: l.encoding, bits: l.bits, shape: l.shape, dictionary: l.dictionary };
  });
  const metadata = { format: NPZ_FORMAT, representation: artifact.representation, meta: artifact.meta, dictionaries: artifact.dictionaries.length, layers };
  files['metadata.json'] = strToU8(JSON.stringify(metadata, null, 1));
  // Stored, not deflated: numpy.load reads both, and the codes are already compact.
  return zipSync(files, { level: 0, mtime: ZIP_MTIME });
}
