/**
 * An image folder: DATA_DIR/NAME/train/<class>/*.png|jpg|jpeg and DATA_DIR/NAME/test/<class>/…, the layout of
 * torchvision's ImageFolder. Classes are train's subfolders in sorted order (their index is the label); test may hold
 * a subset of them. Decoded with sharp (libvips, prebuilt in its npm package); every image must have the size of the
 * first; the first also sets the channels (1 for grayscale, else 3; alpha is dropped), and the others are converted.
 * The decoded images are cached in DATA_DIR/.quantlab-cache/ (see loadImageFolder).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import sharp from 'sharp';
import { RunInputError } from '../errors.ts';
import { gather, interleaveByClass } from './split.ts';
import type { Split } from './types.ts';

const IMAGE_FILE = /\.(png|jpe?g)$/i;
/** Images decoded at once (sharp works on libuv's thread pool). */
const PARALLEL = 8;

export interface FolderListing {
  classes: string[];
  train: { file: string; label: number }[];
  test: { file: string; label: number }[];
  /** Names, sizes and modification times of every image, so a cached decode is dropped when a file changes. */
  signature: string;
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    throw new RunInputError(`${dir}: cannot read it (${e.code ?? e.message}); expected a folder of class folders (train/<class>/*.png|jpg, test/<class>/...)`);
  });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

export async function listImageFolder(root: string): Promise<FolderListing> {
  const classes = await subdirs(join(root, 'train'));
  if (classes.length < 2) throw new RunInputError(`${join(root, 'train')}: ${classes.length} class folder(s); expected at least two (train/<class>/*.png|jpg)`);
  // Labels are held in a byte (as the IDX and .npz loaders hold them): class 256 would silently become class 0.
  if (classes.length > 256) throw new RunInputError(`${join(root, 'train')}: ${classes.length} class folders; at most 256 classes are supported`);
  const testClasses = await subdirs(join(root, 'test'));
  const unknown = testClasses.filter((c) => !classes.includes(c));
  if (unknown.length) throw new RunInputError(`${join(root, 'test')}: class folder(s) ${unknown.join(', ')} are not in train/ (${classes.join(', ')})`);
  const sig: string[] = [];
  const list = async (split: 'train' | 'test', names: string[]) => {
    const out: { file: string; label: number }[] = [];
    for (const c of names) {
      const dir = join(root, split, c);
      const files = (await readdir(dir)).filter((f) => IMAGE_FILE.test(f)).sort();
      for (const f of files) {
        const file = join(dir, f);
        const s = await stat(file);
        sig.push(`${split}/${c}/${f}:${s.size}:${s.mtimeMs}`);
        out.push({ file, label: classes.indexOf(c) });
      }
    }
    if (out.length === 0) throw new RunInputError(`${join(root, split)}: no .png or .jpg images in its class folders`);
    return out;
  };
  const train = await list('train', classes);
  const test = await list('test', testClasses);
  return { classes, train, test, signature: sig.join('|') };
}

interface Geometry {
  height: number;
  width: number;
  channels: 1 | 3;
}

/** Size and channels of the first training image: grayscale (with or without alpha) is one channel, else RGB. */
async function probe(file: string): Promise<Geometry> {
  try {
    const m = await sharp(file).metadata();
    if (!m.width || !m.height || !m.channels) throw new Error('no size in its header');
    return { height: m.height, width: m.width, channels: m.channels - (m.hasAlpha ? 1 : 0) === 1 ? 1 : 3 };
  } catch (e) {
    throw new RunInputError(`${file}: not a readable PNG or JPEG image (${(e as Error).message})`);
  }
}

async function decode(file: string, geometry: Geometry): Promise<Buffer> {
  try {
    // sharp outputs sRGB unless told: one channel needs the b-w colour space explicitly.
    const img = sharp(file, { failOn: 'error' })
      .removeAlpha()
      .toColourspace(geometry.channels === 1 ? 'b-w' : 'srgb');
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.height !== geometry.height || info.width !== geometry.width || info.channels !== geometry.channels) {
      throw new RunInputError(`${file}: ${info.width}x${info.height} pixels, expected ${geometry.width}x${geometry.height} like the first training image (resize the folder to one size)`);
    }
    return data;
  } catch (e) {
    if (e instanceof RunInputError) throw e;
    throw new RunInputError(`${file}: not a readable PNG or JPEG image (${(e as Error).message})`);
  }
}

async function decodeAll(items: { file: string; label: number }[], geometry: Geometry, numClasses: number): Promise<Split> {
  const size = geometry.height * geometry.width * geometry.channels;
  const images = new Uint8Array(items.length * size);
  const labels = new Uint8Array(items.length);
  for (let from = 0; from < items.length; from += PARALLEL) {
    const chunk = items.slice(from, from + PARALLEL);
    const decoded = await Promise.all(chunk.map((it) => decode(it.file, geometry)));
    decoded.forEach((d, k) => {
      images.set(d, (from + k) * size);
      labels[from + k] = chunk[k].label;
    });
  }
  return gather({ images, labels, count: items.length }, interleaveByClass(labels, numClasses), size);
}

type Decoded = { train: Split; test: Split; shape: [number, number, number] };

/**
 * Decodes the folder, or reads the decoded copy in `cacheFile` written by an earlier load of the same listing (the
 * file name carries the listing's signature, so a changed image misses it). Threads and restarted workers then skip
 * decoding. Cache layout: a uint32 JSON header length, the JSON {shape, train, test}, then train images, train
 * labels, test images, test labels. Writing is best effort (a read-only DATA_DIR only costs the cache).
 */
export async function loadImageFolder(listing: FolderListing, cacheFile?: string): Promise<Decoded> {
  if (cacheFile) {
    const hit = await readCache(cacheFile).catch(() => null);
    if (hit) return hit;
  }
  const geometry = await probe(listing.train[0].file);
  const numClasses = listing.classes.length;
  const train = await decodeAll(listing.train, geometry, numClasses);
  const test = await decodeAll(listing.test, geometry, numClasses);
  const decoded: Decoded = { train, test, shape: [geometry.height, geometry.width, geometry.channels] };
  if (cacheFile) await writeCache(cacheFile, decoded).catch(() => {});
  return decoded;
}

/** Where a folder's decoded copy goes: DATA_DIR/.quantlab-cache/folder-NAME-<sha256 of the listing>.bin. */
export function folderCacheFile(dataDir: string, name: string, listing: FolderListing): string {
  const sig = createHash('sha256').update(listing.classes.join('/')).update(listing.signature).digest('hex').slice(0, 32);
  return join(dataDir, '.quantlab-cache', `folder-${name}-${sig}.bin`);
}

async function writeCache(file: string, d: Decoded): Promise<void> {
  const header = Buffer.from(JSON.stringify({ shape: d.shape, train: d.train.count, test: d.test.count }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${threadId}.tmp`;
  await writeFile(tmp, Buffer.concat([length, header, d.train.images as Uint8Array, d.train.labels, d.test.images as Uint8Array, d.test.labels]));
  await rename(tmp, file);
}

async function readCache(file: string): Promise<Decoded | null> {
  const bytes = await readFile(file);
  const n = bytes.readUInt32LE(0);
  const h = JSON.parse(bytes.subarray(4, 4 + n).toString('utf8')) as { shape: [number, number, number]; train: number; test: number };
  const size = h.shape[0] * h.shape[1] * h.shape[2];
  let at = 4 + n;
  const take = (len: number) => new Uint8Array(bytes.buffer, bytes.byteOffset + (at += len) - len, len);
  if (bytes.length !== at + (h.train + h.test) * (size + 1)) return null;
  const train = { images: take(h.train * size), labels: take(h.train), count: h.train };
  const test = { images: take(h.test * size), labels: take(h.test), count: h.test };
  return { train, test, shape: h.shape };
}
