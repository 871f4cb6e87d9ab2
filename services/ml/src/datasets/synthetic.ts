/**
 * A small synthetic dataset for smoke tests: 10 classes of 16x16x3 images, each class a fixed random pattern plus
 * noise. Generated from a constant seed, so it is the same for every run.
 */
import { Rng } from '../random.ts';
import { interleaveByClass, gather } from './split.ts';
import type { RawDataset, Split } from './types.ts';

const SHAPE: [number, number, number] = [16, 16, 3];
const CLASSES = 10;
const TRAIN = 2000;
const TEST = 500;

export function makeSynthetic(): RawDataset {
  const size = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const rng = new Rng(20171114);
  const prototypes = Array.from({ length: CLASSES }, () => Float32Array.from({ length: size }, () => rng.next()));
  const make = (count: number): Split => {
    const images = new Uint8Array(count * size);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const c = i % CLASSES;
      labels[i] = c;
      for (let j = 0; j < size; j++) {
        const v = 0.6 * prototypes[c][j] + 0.4 * rng.next();
        images[i * size + j] = Math.round(v * 255);
      }
    }
    return gather({ images, labels, count }, interleaveByClass(labels, CLASSES), size);
  };
  return {
    name: 'synthetic',
    shape: SHAPE,
    numClasses: CLASSES,
    train: make(TRAIN),
    test: make(TEST),
    split: 'synthetic: generated from a fixed seed (2,000 train, 500 test), interleaved by class',
  };
}
