/** The packed artifact's format constants and record types; docs/ARTIFACT.md gives the byte layout. */
import { ARTIFACT_FORMAT, type Representation } from '@quantlab/shared';

/** One quantized tensor of a model (a conv or fc kernel, or a bias when biases are quantized). */
export interface LayerWeights {
  name: string;
  shape: number[];
  values: Float32Array;
}

export const MAGIC = 'QLAB';
/** Version 2 stores a scale count before the scales (per-channel steps and scales); version 1 is still read. */
export const FORMAT_VERSION = 2;
/** The versions decodeArtifact reads. */
export const READABLE_VERSIONS = [1, 2] as const;
/** RunDocument.artifact.format (the schema's literal, defined with it in shared). */
export const FORMAT_NAME = ARTIFACT_FORMAT;

export const ENCODINGS = ['float32', 'fixed', 'dictionary'] as const;
export type LayerEncoding = (typeof ENCODINGS)[number];
/** The u8 stored for each encoding. */
export const ENCODING_CODE: Record<LayerEncoding, number> = { float32: 0, fixed: 1, dictionary: 2 };

/** "No dictionary" in a layer record's u16 dictionary index. */
export const NO_DICTIONARY = 0xffff;

interface LayerBase {
  name: string;
  shape: readonly number[];
}

/** A layer stored as raw little-endian float32 (the float32 representation, and layers left unquantized). */
export interface Float32LayerRecord extends LayerBase {
  encoding: 'float32';
  values: Float32Array;
}

/**
 * Signed fixed-point codes: value = code × scales[i mod S]; S = 1 (one step a layer) or the last dimension (one
 * step per output channel).
 */
export interface FixedLayerRecord extends LayerBase {
  encoding: 'fixed';
  bits: number;
  scales: ArrayLike<number>;
  codes: Int32Array;
}

/** Dictionary codes: value = dictionaries[dictionary][code] × scales[i mod S], S as for fixed point. */
export interface DictionaryLayerRecord extends LayerBase {
  encoding: 'dictionary';
  bits: number;
  scales: ArrayLike<number>;
  dictionary: number;
  codes: Int32Array;
}

export type LayerRecord = Float32LayerRecord | FixedLayerRecord | DictionaryLayerRecord;

export interface ArtifactContents {
  representation: Representation;
  /** Model, dataset, input shape, run id…: anything JSON. */
  meta?: Record<string, unknown>;
  /** Sorted float32 entries, 2^bits each. */
  dictionaries?: readonly Float32Array[];
  layers: readonly LayerRecord[];
}

export class ArtifactError extends Error {
  override name = 'ArtifactError';
}
