/**
 * MNIST-style datasets in the IDX format of the official distributions (MNIST, Fashion-MNIST, KMNIST, EMNIST):
 * DATA_DIR/NAME/{train,t10k}-{images-idx3,labels-idx1}-ubyte, each plain or .gz. Header: two zero bytes, a type byte
 * (0x08 = unsigned byte), the number of dimensions, then each dimension as a big-endian uint32; then the data.
 */
import { join } from 'node:path';
import { RunInputError } from '../errors.ts';
import { classCount, firstExisting, readDataFile } from './files.ts';
import { gather, interleaveByClass } from './split.ts';
import type { Split } from './types.ts';

export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Decodes one IDX file of unsigned bytes, checking its header against its length. */
export function decodeIdx(bytes: Uint8Array, file: string, wantDims: readonly number[]): IdxArray {
  const expect = `an IDX file of unsigned bytes with ${wantDims.join(' or ')} dimensions`;
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new RunInputError(`${file}: not an IDX file (the first two bytes must be 0); expected ${expect}`);
  if (bytes[2] !== 0x08) throw new RunInputError(`${file}: IDX type byte 0x${bytes[2].toString(16).padStart(2, '0')}, expected 0x08 (unsigned byte)`);
  const nd = bytes[3];
  if (!wantDims.includes(nd)) throw new RunInputError(`${file}: ${nd} dimensions, expected ${wantDims.join(' or ')}`);
  const headerLength = 4 + 4 * nd;
  if (bytes.length < headerLength) throw new RunInputError(`${file}: ${bytes.length} bytes, too short for an IDX header of ${nd} dimensions`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - headerLength !== count) {
    throw new RunInputError(`${file}: the header says [${dims.join(', ')}] (${count} bytes of data), the file has ${bytes.length - headerLength}`);
  }
  return { dims, data: bytes.subarray(headerLength) };
}

async function readPart(dir: string, base: string, wantDims: readonly number[]): Promise<{ array: IdxArray; file: string }> {
  // The official names, plain or gzipped; some mirrors write a dot before "idx".
  const names = [base, base.replace(/-idx/, '.idx')].flatMap((n) => [n, `${n}.gz`]);
  const file = await firstExisting(names.map((n) => join(dir, n)));
  if (!file) throw new RunInputError(`${join(dir, base)}: missing (expected ${base} or ${base}.gz, the official IDX files)`);
  return { array: decodeIdx(await readDataFile(file, `an IDX file`), file, wantDims), file };
}

async function readSplit(dir: string, images: string, labels: string): Promise<{ split: Split; shape: [number, number, number]; files: string[] }> {
  const x = await readPart(dir, images, [3, 4]);
  const y = await readPart(dir, labels, [1]);
  const [n, h, w, c = 1] = x.array.dims;
  if (y.array.dims[0] !== n) throw new RunInputError(`${y.file}: ${y.array.dims[0]} labels, expected ${n} (one for each image in ${x.file})`);
  if (n === 0 || h === 0 || w === 0 || c === 0) throw new RunInputError(`${x.file}: no images (dimensions [${x.array.dims.join(', ')}])`);
  return { split: { images: x.array.data, labels: y.array.data, count: n }, shape: [h, w, c], files: [x.file, y.file] };
}

export async function loadIdx(dir: string): Promise<{ train: Split; test: Split; shape: [number, number, number]; numClasses: number; files: string[] }> {
  const train = await readSplit(dir, IDX_FILES.trainImages, IDX_FILES.trainLabels);
  const test = await readSplit(dir, IDX_FILES.testImages, IDX_FILES.testLabels);
  if (train.shape.join() !== test.shape.join()) {
    throw new RunInputError(`${test.files[0]}: images of ${test.shape.join('x')}, expected ${train.shape.join('x')} like ${train.files[0]}`);
  }
  const numClasses = classCount([train.split.labels, test.split.labels]);
  if (numClasses < 2) throw new RunInputError(`${train.files[1]}: every label is 0; expected at least two classes`);
  const size = train.shape[0] * train.shape[1] * train.shape[2];
  const order = (s: Split) => gather(s, interleaveByClass(s.labels, numClasses), size);
  return { train: order(train.split), test: order(test.split), shape: train.shape, numClasses, files: [...train.files, ...test.files] };
}
