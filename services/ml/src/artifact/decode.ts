import { Representation } from '@quantlab/shared';
import { signExtend, unpackBitsFrom, packedBytes } from './bit-packing.ts';
import type { LayerWeights } from './format.ts';
import { crc32 } from './crc32.ts';
import { ArtifactError, ENCODINGS, FORMAT_VERSION, MAGIC, READABLE_VERSIONS, NO_DICTIONARY, type LayerEncoding } from './format.ts';

export interface DecodedLayer extends LayerWeights {
  encoding: LayerEncoding;
  /** Bits per stored value (32 for float32). */
  bits: number;
  /** Fixed point: the step; dictionary: the scale; float32: 1 (per-channel: the first channel's). */
  scale: number;
  /** Fixed point: the steps, dictionary: the scales; one, or one per output channel (value i uses scales[i mod S]). */
  scales: Float64Array;
  /** Index into `dictionaries`, or null. */
  dictionary: number | null;
  /** The stored codes (signed for fixed point), or null for float32 layers. */
  codes: Int32Array | null;
}

export interface DecodedArtifact {
  version: number;
  representation: Representation;
  meta: Record<string, unknown>;
  dictionaries: Float32Array[];
  /** In stored order: quantized layers, then the layers kept in float32; values decoded to float32. */
  layers: DecodedLayer[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a packed artifact back (layout: docs/ARTIFACT.md); throws ArtifactError on anything malformed. */
export function decodeArtifact(input: Uint8Array): DecodedArtifact {
  const bytes = input;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let p = 0;
  const need = (k: number, what: string) => {
    if (p + k > n - 4) throw new ArtifactError(`artifact truncated: ${what} needs ${k} bytes at offset ${p}, ${Math.max(0, n - 4 - p)} left`);
  };
  if (n < 12 || String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]) !== MAGIC) throw new ArtifactError('not a quantlab artifact (magic "QLAB" missing)');
  const version = view.getUint16(4, true);
  if (!(READABLE_VERSIONS as readonly number[]).includes(version)) throw new ArtifactError(`artifact format version ${version} is not supported (this build reads ${READABLE_VERSIONS.join(' and ')}; it writes ${FORMAT_VERSION})`);
  const stored = view.getUint32(n - 4, true);
  const actual = crc32(bytes, 0, n - 4);
  if (stored !== actual) throw new ArtifactError(`artifact corrupt: CRC-32 ${actual.toString(16)} does not match the stored ${stored.toString(16)}`);
  p = 8;

  const json = (what: string): unknown => {
    need(4, what);
    const len = view.getUint32(p, true);
    p += 4;
    need(len, what);
    const text = utf8.decode(bytes.subarray(p, p + len));
    p += len;
    try {
      return JSON.parse(text);
    } catch {
      throw new ArtifactError(`artifact ${what} is not valid JSON`);
    }
  };
  const parsed = Representation.safeParse(json('representation'));
  if (!parsed.success) throw new ArtifactError(`artifact representation is invalid: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const meta = json('meta');
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new ArtifactError('artifact meta is not a JSON object');

  need(2, 'dictionary count');
  const dictionaryCount = view.getUint16(p, true);
  p += 2;
  const dictionaries: Float32Array[] = [];
  for (let d = 0; d < dictionaryCount; d++) {
    need(2, 'dictionary size');
    const k = view.getUint16(p, true);
    p += 2;
    need(4 * k, `dictionary ${d}`);
    const entries = new Float32Array(k);
    for (let i = 0; i < k; i++, p += 4) entries[i] = view.getFloat32(p, true);
    dictionaries.push(entries);
  }

  need(4, 'layer count');
  const layerCount = view.getUint32(p, true);
  p += 4;
  const layers: DecodedLayer[] = [];
  for (let l = 0; l < layerCount; l++) {
    need(2, `layer ${l} name length`);
    const nameLen = view.getUint16(p, true);
    p += 2;
    need(nameLen + 3, `layer ${l} header`);
    const name = utf8.decode(bytes.subarray(p, p + nameLen));
    p += nameLen;
    const encoding = ENCODINGS[bytes[p]];
    const bits = bytes[p + 1];
    const rank = bytes[p + 2];
    p += 3;
    if (encoding === undefined) throw new ArtifactError(`layer ${name}: unknown encoding ${bytes[p - 3]}`);
    if (bits < 1 || bits > 32 || (encoding === 'float32' && bits !== 32)) throw new ArtifactError(`layer ${name}: bad bit width ${bits}`);
    need(4 * rank + 4, `layer ${name} shape`);
    const shape: number[] = [];
    let count = 1;
    for (let i = 0; i < rank; i++, p += 4) {
      const d = view.getUint32(p, true);
      shape.push(d);
      count *= d;
    }
    // Version 1 has exactly one f64 scale; version 2 a u32 count first.
    let units = 1;
    if (version >= 2) {
      units = view.getUint32(p, true);
      p += 4;
      const last = rank === 0 ? 1 : shape[rank - 1];
      if (units !== 1 && units !== last) throw new ArtifactError(`layer ${name}: ${units} scales for shape [${shape.join(', ')}]`);
      if (units !== 1 && encoding === 'float32') throw new ArtifactError(`layer ${name}: a float32 layer has one scale`);
    }
    need(8 * units + 2, `layer ${name} scales`);
    const scales = new Float64Array(units);
    for (let k = 0; k < units; k++, p += 8) scales[k] = view.getFloat64(p, true);
    const scale = scales[0];
    const dictIndex = view.getUint16(p, true);
    p += 2;
    const payload = packedBytes(count, bits);
    need(payload, `layer ${name} payload`);
    const values = new Float32Array(count);
    let codes: Int32Array | null = null;
    let dictionary: number | null = null;
    if (encoding === 'float32') {
      for (let i = 0; i < count; i++, p += 4) values[i] = view.getFloat32(p, true);
    } else {
      codes = unpackBitsFrom(bytes, p, count, bits, new Int32Array(count));
      p += payload;
      if (encoding === 'fixed') {
        if (bits < 32) for (let i = 0; i < count; i++) codes[i] = signExtend(codes[i], bits);
        for (let i = 0; i < count; i++) values[i] = codes[i] * scales[i % units];
      } else {
        const entries = dictionaries[dictIndex];
        if (dictIndex === NO_DICTIONARY || !entries) throw new ArtifactError(`layer ${name}: dictionary ${dictIndex} does not exist`);
        for (let i = 0; i < count; i++) {
          const k = codes[i];
          if (k >= entries.length) throw new ArtifactError(`layer ${name}: code ${k} outside its dictionary of ${entries.length} entries`);
          values[i] = entries[k] * scales[i % units];
        }
        dictionary = dictIndex;
      }
    }
    layers.push({ name, shape, values, encoding, bits, scale, scales, dictionary, codes });
  }
  if (p !== n - 4) throw new ArtifactError(`artifact has ${n - 4 - p} unexpected bytes after its last layer`);
  return { version, representation: parsed.data, meta: meta as Record<string, unknown>, dictionaries, layers };
}
