import { checkBits, packBitsInto, packedBytes } from './bit-packing.ts';
import { crc32 } from './crc32.ts';
import {
  ArtifactError,
  ENCODING_CODE,
  FORMAT_VERSION,
  MAGIC,
  NO_DICTIONARY,
  type ArtifactContents,
  type LayerRecord,
} from './format.ts';

const utf8 = new TextEncoder();

function bitsOfRecord(l: LayerRecord): number {
  return l.encoding === 'float32' ? 32 : l.bits;
}

const ONE = [1];
function scalesOf(l: LayerRecord): ArrayLike<number> {
  return l.encoding === 'float32' ? ONE : l.scales;
}

function countOf(l: LayerRecord): number {
  return l.encoding === 'float32' ? l.values.length : l.codes.length;
}

function check(c: ArtifactContents): void {
  const dictionaries = c.dictionaries ?? [];
  if (dictionaries.length > 0xfffe) throw new ArtifactError('too many dictionaries');
  for (const d of dictionaries) if (d.length > 0xffff) throw new ArtifactError(`a dictionary has ${d.length} entries (at most 65535)`);
  for (const l of c.layers) {
    const count = countOf(l);
    const expected = l.shape.reduce((a, b) => a * b, 1);
    if (l.shape.length > 255 || l.shape.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffffffff)) throw new ArtifactError(`layer ${l.name}: bad shape [${l.shape.join(', ')}]`);
    if (count !== expected) throw new ArtifactError(`layer ${l.name}: ${count} values for shape [${l.shape.join(', ')}]`);
    if (l.encoding === 'float32') continue;
    checkBits(l.bits);
    const units = l.scales.length;
    if (units !== 1 && (l.shape.length === 0 || units !== l.shape[l.shape.length - 1])) {
      throw new ArtifactError(`layer ${l.name}: ${units} scales for shape [${l.shape.join(', ')}] (1, or one per last-axis channel)`);
    }
    if (l.encoding === 'dictionary') {
      const d = dictionaries[l.dictionary];
      if (!d) throw new ArtifactError(`layer ${l.name}: no dictionary ${l.dictionary}`);
      for (let i = 0; i < l.codes.length; i++) {
        const k = l.codes[i];
        if (k < 0 || k >= d.length) throw new ArtifactError(`layer ${l.name}: code ${k} outside its dictionary of ${d.length} entries`);
      }
    }
  }
}

/** Serializes an artifact (layout: docs/ARTIFACT.md). */
export function packArtifact(c: ArtifactContents): Uint8Array {
  check(c);
  const repr = utf8.encode(JSON.stringify(c.representation));
  const meta = utf8.encode(JSON.stringify(c.meta ?? {}));
  const dictionaries = c.dictionaries ?? [];
  const names = c.layers.map((l) => utf8.encode(l.name));
  for (let i = 0; i < names.length; i++) if (names[i].length > 0xffff) throw new ArtifactError(`layer name too long: ${c.layers[i].name.slice(0, 40)}…`);

  let size = 4 + 2 + 2 + 4 + repr.length + 4 + meta.length + 2;
  for (const d of dictionaries) size += 2 + 4 * d.length;
  size += 4;
  c.layers.forEach((l, i) => {
    size += 2 + names[i].length + 1 + 1 + 1 + 4 * l.shape.length + 4 + 8 * scalesOf(l).length + 2 + packedBytes(countOf(l), bitsOfRecord(l));
  });
  size += 4; // CRC-32 trailer

  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let p = 0;
  for (let i = 0; i < 4; i++) bytes[p++] = MAGIC.charCodeAt(i);
  view.setUint16(p, FORMAT_VERSION, true);
  view.setUint16(p + 2, 0, true);
  p += 4;
  view.setUint32(p, repr.length, true);
  bytes.set(repr, p + 4);
  p += 4 + repr.length;
  view.setUint32(p, meta.length, true);
  bytes.set(meta, p + 4);
  p += 4 + meta.length;
  view.setUint16(p, dictionaries.length, true);
  p += 2;
  for (const d of dictionaries) {
    view.setUint16(p, d.length, true);
    p += 2;
    for (let k = 0; k < d.length; k++, p += 4) view.setFloat32(p, d[k], true);
  }
  view.setUint32(p, c.layers.length, true);
  p += 4;
  c.layers.forEach((l, i) => {
    view.setUint16(p, names[i].length, true);
    bytes.set(names[i], p + 2);
    p += 2 + names[i].length;
    bytes[p++] = ENCODING_CODE[l.encoding];
    bytes[p++] = bitsOfRecord(l);
    bytes[p++] = l.shape.length;
    for (const d of l.shape) {
      view.setUint32(p, d, true);
      p += 4;
    }
    const scales = scalesOf(l);
    view.setUint32(p, scales.length, true);
    p += 4;
    for (let k = 0; k < scales.length; k++, p += 8) view.setFloat64(p, scales[k], true);
    view.setUint16(p, l.encoding === 'dictionary' ? l.dictionary : NO_DICTIONARY, true);
    p += 2;
    if (l.encoding === 'float32') {
      for (let k = 0; k < l.values.length; k++, p += 4) view.setFloat32(p, l.values[k], true);
    } else {
      p = packBitsInto(l.codes, l.bits, bytes, p);
    }
  });
  view.setUint32(p, crc32(bytes, 0, p), true);
  p += 4;
  if (p !== size) throw new Error(`packArtifact: wrote ${p} bytes, planned ${size}`);
  return bytes;
}
