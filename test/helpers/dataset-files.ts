// Writes small user datasets in the formats the worker reads from DATA_DIR: IDX files (as the MNIST distributions),
// NumPy .npz archives (as np.savez / np.savez_compressed write them) and image folders (PNG and JPEG). The images are
// class-dependent patterns plus noise, so a network can learn them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { Rng } from '@quantlab/ml/random';

export interface SmallSplit {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** `count` images of h x w x c, labels i % classes. */
export function patternImages(count: number, [h, w, c]: [number, number, number], classes: number, seed: number): SmallSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * h * w * c);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    labels[i] = label;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          // Each class lights a different band of rows (and a colour), plus noise.
          const band = Math.floor((y * classes) / h) === label ? 160 : 40;
          const v = band + 20 * ((label + ch) % 3) + Math.round((rng.next() - 0.5) * 60);
          images[((i * h + y) * w + x) * c + ch] = Math.max(0, Math.min(255, v));
        }
      }
    }
  }
  return { images, labels, count };
}

function idxBytes(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** DATA_DIR/NAME with the four official IDX files (gzipped when `gz`). */
export function writeIdxDataset(dir: string, train: SmallSplit, test: SmallSplit, side: number, gz = false): string {
  mkdirSync(dir, { recursive: true });
  const put = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  put('train-images-idx3-ubyte', idxBytes([train.count, side, side], train.images));
  put('train-labels-idx1-ubyte', idxBytes([train.count], train.labels));
  put('t10k-images-idx3-ubyte', idxBytes([test.count, side, side], test.images));
  put('t10k-labels-idx1-ubyte', idxBytes([test.count], test.labels));
  return dir;
}

/** A .npy file: version 1.0 header padded to 64 bytes, C order. */
export function npyBytes(descr: string, shape: number[], data: Uint8Array): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = Buffer.from(dict + ' '.repeat(pad % 64) + '\n', 'latin1');
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(header, 10);
  out.set(data, 10 + header.length);
  return out;
}

/** A zip archive of `entries` (stored, or deflated when `compressed`), as np.savez writes them. */
export function zipBytes(entries: Record<string, Uint8Array>, compressed: boolean): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(entries)) {
    const body = compressed ? deflateRawSync(data) : Buffer.from(data);
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(compressed ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(compressed ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, body);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** DATA_DIR/NAME.npz with x uint8 (or float32 in [0, 1] when `float`) NHWC and int64 labels. */
export function writeNpzDataset(file: string, train: SmallSplit, test: SmallSplit, shape: [number, number, number], opts: { float?: boolean; compressed?: boolean } = {}): string {
  const x = (s: SmallSplit) =>
    opts.float ? npyBytes('<f4', [s.count, ...shape], new Uint8Array(Float32Array.from(s.images, (v) => v / 255).buffer)) : npyBytes('|u1', [s.count, ...shape], s.images);
  const y = (s: SmallSplit) => npyBytes('<i8', [s.count], new Uint8Array(BigInt64Array.from(s.labels, (v) => BigInt(v)).buffer));
  writeFileSync(file, zipBytes({ 'x_train.npy': x(train), 'y_train.npy': y(train), 'x_test.npy': x(test), 'y_test.npy': y(test) }, opts.compressed ?? false));
  return file;
}

/** DATA_DIR/NAME/{train,test}/<class>/<i>.png (or .jpg for odd i when `jpeg`). */
export async function writeImageFolder(dir: string, train: SmallSplit, test: SmallSplit, shape: [number, number, number], classNames: string[], jpeg = false): Promise<string> {
  const [h, w, c] = shape;
  const size = h * w * c;
  for (const [split, s] of [['train', train], ['test', test]] as const) {
    for (let i = 0; i < s.count; i++) {
      const classDir = join(dir, split, classNames[s.labels[i]]);
      mkdirSync(classDir, { recursive: true });
      let img = sharp(Buffer.from(s.images.subarray(i * size, (i + 1) * size)), { raw: { width: w, height: h, channels: c as 1 | 3 } });
      if (c === 1) img = img.toColourspace('b-w'); // else sharp writes one channel as RGB
      const asJpeg = jpeg && i % 2 === 1;
      await (asJpeg ? img.jpeg({ quality: 95 }) : img.png()).toFile(join(classDir, `${String(i).padStart(4, '0')}.${asJpeg ? 'jpg' : 'png'}`));
    }
  }
  return dir;
}
