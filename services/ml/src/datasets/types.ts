import type { ExperimentConfig } from '@quantlab/shared';

export type DatasetName = ExperimentConfig['dataset'];

/**
 * Images of one split, HWC order, with one label byte each: raw bytes (0..255), or float32 values as an npz file
 * holds them (normalization comes from the data, so any range works).
 */
export interface Split {
  images: Uint8Array | Float32Array;
  labels: Uint8Array;
  count: number;
}

/** A whole dataset as loaded from its source (cached per process; never modified). */
export interface RawDataset {
  name: DatasetName;
  /** [height, width, channels] */
  shape: [number, number, number];
  numClasses: number;
  train: Split;
  test: Split;
  /** How the train/test split was made; recorded in the run document. */
  split: string;
  /** Class names where the source has them (an image folder's class folders). */
  classNames?: string[];
  /** The files read, relative to DATA_DIR, or the package. */
  source?: string;
}

/** Per-channel normalization of x/255, from the training images a run uses. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/** What one run trains and tests on: stratified subsets of a RawDataset plus their normalization. */
export interface PreparedDataset {
  raw: RawDataset;
  train: Split;
  test: Split;
  norm: Normalization;
  /** sha256 of the images and labels used, train then test. */
  hash: string;
}
