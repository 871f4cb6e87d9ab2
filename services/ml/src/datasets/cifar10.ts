/**
 * CIFAR-10 from the official binary distribution under DATA_DIR: the extracted `cifar-10-batches-bin/` folder, or the
 * `cifar-10-binary.tar.gz` archive as downloaded (read streaming with the `tar` package; nothing is extracted).
 * Each record: 1 label byte, then 1024 R, 1024 G, 1024 B bytes (3,073 bytes); 10,000 records a file.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import { RunInputError } from '../errors.ts';
import { gather, interleaveByClass } from './split.ts';
import type { RawDataset, Split } from './types.ts';

export const CIFAR_DIR = 'cifar-10-batches-bin';
export const CIFAR_ARCHIVE = 'cifar-10-binary.tar.gz';
export const CIFAR_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR_TEST_FILE = 'test_batch.bin';
const RECORD = 3073;
/** A CIFAR-10 batch file holds 10,000 records; an archive entry claiming more is refused before it is read. */
export const CIFAR_MAX_ENTRY_BYTES = 10_000 * RECORD;
const PLANE = 1024;
const IMAGE = 3 * PLANE;

/** Decodes one batch file's records into HWC images and labels, checking the layout. */
export function decodeCifarRecords(bytes: Uint8Array, file: string): Split {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new RunInputError(`${file}: ${bytes.length} bytes is not a positive multiple of ${RECORD} (CIFAR-10 binary records: 1 label byte + 3,072 pixel bytes)`);
  }
  const count = bytes.length / RECORD;
  const images = new Uint8Array(count * IMAGE);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const r = i * RECORD;
    const label = bytes[r];
    if (label > 9) throw new RunInputError(`${file}: record ${i} has label ${label}, expected 0..9`);
    labels[i] = label;
    // Planar RGB (CHW) to interleaved HWC, the layout TF.js convolutions take.
    const o = i * IMAGE;
    for (let p = 0; p < PLANE; p++) {
      images[o + p * 3] = bytes[r + 1 + p];
      images[o + p * 3 + 1] = bytes[r + 1 + PLANE + p];
      images[o + p * 3 + 2] = bytes[r + 1 + 2 * PLANE + p];
    }
  }
  return { images, labels, count };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readFolder(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const name of [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE]) {
    const path = join(dir, name);
    try {
      files.set(name, new Uint8Array(await readFile(path)));
    } catch {
      throw new RunInputError(`${path}: missing (expected the CIFAR-10 binary batch files data_batch_1..5.bin and test_batch.bin)`);
    }
  }
  return files;
}

async function readArchive(archive: string): Promise<Map<string, Uint8Array>> {
  const wanted = new Set([...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE]);
  const files = new Map<string, Uint8Array>();
  let refused: RunInputError | null = null;
  const parser: Parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const name = basename(entry.path);
      if (entry.type !== 'File' || !wanted.has(name)) {
        entry.resume();
        return;
      }
      // The header's size, checked before a byte is buffered: a crafted archive must not make the worker hold gigabytes.
      if (entry.size > CIFAR_MAX_ENTRY_BYTES) {
        refused = new RunInputError(`${archive}: ${name} claims ${entry.size} bytes; a CIFAR-10 batch has at most ${CIFAR_MAX_ENTRY_BYTES}`);
        parser.abort(refused);
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => files.set(name, new Uint8Array(Buffer.concat(chunks))));
    },
  });
  try {
    await pipeline(createReadStream(archive), parser);
  } catch (e) {
    if (refused) throw refused;
    throw new RunInputError(`${archive}: not a readable CIFAR-10 tar.gz archive: ${(e as Error).message}`);
  }
  for (const name of wanted) {
    if (!files.has(name)) throw new RunInputError(`${archive}: the archive holds no ${CIFAR_DIR}/${name}`);
  }
  return files;
}

function concat(parts: Split[]): Split {
  const count = parts.reduce((s, p) => s + p.count, 0);
  const out: Split = { images: new Uint8Array(count * IMAGE), labels: new Uint8Array(count), count };
  let at = 0;
  for (const p of parts) {
    out.images.set(p.images, at * IMAGE);
    out.labels.set(p.labels, at);
    at += p.count;
  }
  return out;
}

export async function loadCifar10(dataDir: string): Promise<RawDataset> {
  const dir = join(dataDir, CIFAR_DIR);
  const archive = join(dataDir, CIFAR_ARCHIVE);
  let files: Map<string, Uint8Array>;
  let source: string;
  if (await exists(dir)) {
    files = await readFolder(dir);
    source = dir;
  } else if (await exists(archive)) {
    files = await readArchive(archive);
    source = archive;
  } else {
    throw new RunInputError(`cifar10: neither ${dir}/ nor ${archive} exists (download the CIFAR-10 binary version into DATA_DIR)`);
  }
  const decode = (name: string) => decodeCifarRecords(files.get(name)!, join(source, name));
  const train = concat(CIFAR_TRAIN_FILES.map(decode));
  const test = decode(CIFAR_TEST_FILE);
  const order = (s: Split) => gather(s, interleaveByClass(s.labels, 10), IMAGE);
  return {
    name: 'cifar10',
    shape: [32, 32, 3],
    numClasses: 10,
    train: order(train),
    test: order(test),
    split: `cifar10 official split (data_batch_1..5 train, test_batch test) from ${basename(source)}, interleaved by class, so a limit takes a stratified subset`,
  };
}
