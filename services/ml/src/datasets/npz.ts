/**
 * NumPy `.npz` datasets: DATA_DIR/NAME.npz holding x_train, y_train, x_test, y_test (np.savez or np.savez_compressed).
 * x: uint8 or float32, NHWC (or NHW for one channel); y: integer labels, shape (N,) or (N, 1).
 * An .npz is a zip archive of .npy files; this reads the zip's central directory (stored and deflated entries, zip64
 * sizes as np.savez writes them) and the .npy headers itself.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { RunInputError } from '../errors.ts';
import { classCount } from './files.ts';
import { gather, interleaveByClass } from './split.ts';
import type { Split } from './types.ts';

export const NPZ_ARRAYS = ['x_train', 'y_train', 'x_test', 'y_test'] as const;

/** The entries of a zip archive by name (decompressed, CRC-checked). */
export function readZip(bytes: Uint8Array, file: string): Map<string, Uint8Array> {
  try {
    return readZipEntries(bytes, file);
  } catch (e) {
    // A length or offset field pointing past the file (an extra field, a zip64 record) fails a DataView read: the
    // archive is damaged, which retrying cannot help.
    if (e instanceof RangeError) throw new RunInputError(`${file}: not a readable .npz (zip) archive: a field points past its end (${e.message})`);
    throw e;
  }
}

function readZipEntries(bytes: Uint8Array, file: string): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (what: string) => new RunInputError(`${file}: not a readable .npz (zip) archive: ${what}`);
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65,535, at the very end.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65_535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record');
  let entries = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (entries === 0xffff || cdOffset === 0xffffffff) {
    // Zip64: the locator just before the EOCD points to the zip64 EOCD record.
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) throw bad('zip64 sizes without a zip64 locator');
    const z64 = Number(view.getBigUint64(loc + 8, true));
    if (z64 + 56 > bytes.length || view.getUint32(z64, true) !== 0x06064b50) throw bad('the zip64 end record is missing');
    entries = Number(view.getBigUint64(z64 + 32, true));
    cdOffset = Number(view.getBigUint64(z64 + 48, true));
  }
  const out = new Map<string, Uint8Array>();
  let p = cdOffset;
  for (let e = 0; e < entries; e++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) throw bad(`central directory entry ${e} is damaged`);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressed = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    const name = Buffer.from(bytes.subarray(p + 46, p + 46 + nameLength)).toString('utf8');
    // A zip64 extra field carries, in this order, whichever of the three 32-bit fields are saturated.
    for (let x = p + 46 + nameLength; x + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (id === 0x0001) {
        let f = x + 4;
        if (size === 0xffffffff) {
          size = Number(view.getBigUint64(f, true));
          f += 8;
        }
        if (compressed === 0xffffffff) {
          compressed = Number(view.getBigUint64(f, true));
          f += 8;
        }
        if (local === 0xffffffff) local = Number(view.getBigUint64(f, true));
      }
      x += 4 + len;
    }
    p += 46 + nameLength + extraLength + commentLength;
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) throw bad(`the local header of ${name} is damaged`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + compressed > bytes.length) throw bad(`${name} is truncated (${compressed} bytes expected)`);
    const raw = bytes.subarray(start, start + compressed);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) {
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(size, 1) });
      } catch (err) {
        throw bad(`${name} does not inflate (${(err as Error).message})`);
      }
    } else throw bad(`${name} uses compression method ${method}; expected stored (0) or deflate (8)`);
    if (data.length !== size) throw bad(`${name} is ${data.length} bytes, its header says ${size}`);
    if (crc32(data) !== crc) throw bad(`${name} fails its CRC check`);
    out.set(name, data);
  }
  return out;
}

export interface NpyArray {
  dtype: string;
  shape: number[];
  /** Values as float32 (x) or the raw typed data converted by the caller. */
  data: Uint8Array;
}

const ITEM_SIZE: Record<string, number> = { u1: 1, i1: 1, u2: 2, i2: 2, u4: 4, i4: 4, u8: 8, i8: 8, f4: 4, f8: 8 };

/** Parses a .npy file: magic, version, a Python-dict header (descr, fortran_order, shape), then C-order data. */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) throw new RunInputError(`${where}: not a .npy array (no \\x93NUMPY magic)`);
  const major = bytes[6];
  if (major !== 1 && bytes.length < 12) throw new RunInputError(`${where}: the .npy header is truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (headerStart + headerLength > bytes.length) throw new RunInputError(`${where}: the .npy header is truncated`);
  const header = Buffer.from(bytes.subarray(headerStart, headerStart + headerLength)).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new RunInputError(`${where}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw new RunInputError(`${where}: Fortran order; expected C order (np.ascontiguousarray before saving)`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new RunInputError(`${where}: bad shape (${shapeText})`);
  // '|u1', '<f4', 'u1': little-endian or byte-sized only.
  const m = /^([<|=]?)([uif][1248])$/.exec(descr);
  if (!m) throw new RunInputError(`${where}: dtype ${descr}; expected a little-endian integer or float32 array`);
  const dtype = m[2];
  const data = bytes.subarray(headerStart + headerLength);
  const expected = shape.reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype];
  if (data.length !== expected) throw new RunInputError(`${where}: shape (${shape.join(', ')}) of ${dtype} needs ${expected} bytes of data, the array has ${data.length}`);
  return { dtype, shape, data };
}

function images(a: NpyArray, where: string): { images: Uint8Array | Float32Array; shape: [number, number, number] } {
  if (a.shape.length !== 3 && a.shape.length !== 4) throw new RunInputError(`${where}: shape (${a.shape.join(', ')}); expected images N x H x W x C (NHWC) or N x H x W`);
  const [n, h, w, c = 1] = a.shape;
  if (n === 0 || h === 0 || w === 0 || c === 0) throw new RunInputError(`${where}: no images (shape (${a.shape.join(', ')}))`);
  if (a.dtype === 'u1') return { images: a.data, shape: [h, w, c] };
  if (a.dtype !== 'f4') throw new RunInputError(`${where}: dtype ${a.dtype}; expected uint8 or float32 images`);
  // Copied: the entry's offset need not be 4-aligned (and Buffer.slice would not copy).
  const values = new Float32Array(a.data.length / 4);
  new Uint8Array(values.buffer).set(a.data);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new RunInputError(`${where}: value ${values[i]} at flat index ${i}; expected finite float32 pixels`);
  }
  return { images: values, shape: [h, w, c] };
}

function labels(a: NpyArray, count: number, where: string): Uint8Array {
  if (!(a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1)) || a.shape[0] !== count) {
    throw new RunInputError(`${where}: shape (${a.shape.join(', ')}); expected (${count},), one integer label per image`);
  }
  if (a.dtype.startsWith('f')) throw new RunInputError(`${where}: dtype ${a.dtype}; expected integer labels`);
  const size = ITEM_SIZE[a.dtype];
  const view = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const signed = a.dtype.startsWith('i');
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const o = i * size;
    const v =
      size === 1 ? (signed ? view.getInt8(o) : view.getUint8(o))
      : size === 2 ? (signed ? view.getInt16(o, true) : view.getUint16(o, true))
      : size === 4 ? (signed ? view.getInt32(o, true) : view.getUint32(o, true))
      : Number(signed ? view.getBigInt64(o, true) : view.getBigUint64(o, true));
    if (v < 0 || v > 255) throw new RunInputError(`${where}: label ${v} at index ${i}; expected class numbers 0..255`);
    out[i] = v;
  }
  return out;
}

export function decodeNpz(bytes: Uint8Array, file: string): { train: Split; test: Split; shape: [number, number, number]; numClasses: number } {
  const entries = readZip(bytes, file);
  const get = (name: (typeof NPZ_ARRAYS)[number]) => {
    const entry = entries.get(`${name}.npy`);
    if (!entry) throw new RunInputError(`${file}: no array ${name}; expected ${NPZ_ARRAYS.join(', ')} (np.savez(file, x_train=..., y_train=..., x_test=..., y_test=...)), found ${[...entries.keys()].map((k) => k.replace(/\.npy$/, '')).join(', ') || 'none'}`);
    return parseNpy(entry, `${file}: ${name}`);
  };
  const xTrain = images(get('x_train'), `${file}: x_train`);
  const xTest = images(get('x_test'), `${file}: x_test`);
  if (xTrain.shape.join() !== xTest.shape.join()) throw new RunInputError(`${file}: x_test images are ${xTest.shape.join('x')}, x_train ${xTrain.shape.join('x')}; expected the same shape`);
  if (xTrain.images.constructor !== xTest.images.constructor) throw new RunInputError(`${file}: x_train and x_test have different dtypes; expected both uint8 or both float32`);
  const size = xTrain.shape[0] * xTrain.shape[1] * xTrain.shape[2];
  const nTrain = xTrain.images.length / size;
  const nTest = xTest.images.length / size;
  const yTrain = labels(get('y_train'), nTrain, `${file}: y_train`);
  const yTest = labels(get('y_test'), nTest, `${file}: y_test`);
  const numClasses = classCount([yTrain, yTest]);
  if (numClasses < 2) throw new RunInputError(`${file}: every label is 0; expected at least two classes`);
  const order = (s: Split) => gather(s, interleaveByClass(s.labels, numClasses), size);
  return {
    train: order({ images: xTrain.images, labels: yTrain, count: nTrain }),
    test: order({ images: xTest.images, labels: yTest, count: nTest }),
    shape: xTrain.shape,
    numClasses,
  };
}
