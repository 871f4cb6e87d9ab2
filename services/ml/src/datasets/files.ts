/** Reading a user dataset's files: whole, gunzipped when named .gz, with errors that name the file. */
import { readFile, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { RunInputError } from '../errors.ts';

/** A file's bytes; `.gz` files are decompressed (a corrupt stream fails the run, naming the file). */
export async function readDataFile(path: string, expected: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new RunInputError(`${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); expected ${expected}`);
  }
  if (!path.endsWith('.gz')) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const out = gunzipSync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new RunInputError(`${path}: not a readable gzip file (${(e as Error).message}); expected ${expected}, gzipped`);
  }
}

/** The first of `candidates` that exists, or null. */
export async function firstExisting(candidates: readonly string[]): Promise<string | null> {
  for (const c of candidates) {
    if (await stat(c).then((s) => s.isFile(), () => false)) return c;
  }
  return null;
}

/** Size and modification time of files, so a cached dataset is reloaded when its files change. */
export async function filesSignature(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(paths.map((p) => stat(p).then((s) => `${p}:${s.size}:${s.mtimeMs}`, () => `${p}:missing`)));
  return parts.join('|');
}

/** Number of classes from integer labels (max + 1); labels must fit a byte. */
export function classCount(labelSets: readonly Uint8Array[]): number {
  let max = 0;
  for (const labels of labelSets) for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
  return max + 1;
}
