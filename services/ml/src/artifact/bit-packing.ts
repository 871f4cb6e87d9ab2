/**
 * Bit packing of integer codes, `bits` (1..32) per code, least significant bit first: code i occupies bits
 * [i·bits, (i+1)·bits) of the stream, and stream bit j is bit (j mod 8) of byte ⌊j/8⌋. Signed codes are stored as
 * their two's complement in `bits` bits; unpacking returns the unsigned field (see signExtend).
 */

export function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new RangeError(`bits must be an integer in 1..32, got ${bits}`);
}

/** Bytes taken by `count` codes of `bits` bits (the last byte padded with zeros). */
export function packedBytes(count: number, bits: number): number {
  return Math.ceil((count * bits) / 8);
}

/** Writes the codes at `offset` of `dst`; returns the offset after the last byte written. */
export function packBitsInto(codes: Int32Array, bits: number, dst: Uint8Array, offset: number): number {
  checkBits(bits);
  const n = codes.length;
  if (offset + packedBytes(n, bits) > dst.length) throw new RangeError('packBitsInto: destination too small');
  let p = offset;
  if (bits === 8) {
    for (let i = 0; i < n; i++) dst[p++] = codes[i] & 0xff;
    return p;
  }
  if (bits === 16) {
    for (let i = 0; i < n; i++) {
      const c = codes[i];
      dst[p++] = c & 0xff;
      dst[p++] = (c >>> 8) & 0xff;
    }
    return p;
  }
  if (bits === 32) {
    for (let i = 0; i < n; i++) {
      const c = codes[i];
      dst[p++] = c & 0xff;
      dst[p++] = (c >>> 8) & 0xff;
      dst[p++] = (c >>> 16) & 0xff;
      dst[p++] = (c >>> 24) & 0xff;
    }
    return p;
  }
  // The accumulator holds < 8 pending bits before a push, so a push of <= 24 bits stays below bit 31.
  let acc = 0;
  let pending = 0;
  if (bits <= 24) {
    const mask = (1 << bits) - 1;
    for (let i = 0; i < n; i++) {
      acc |= (codes[i] & mask) << pending;
      pending += bits;
      while (pending >= 8) {
        dst[p++] = acc & 0xff;
        acc >>>= 8;
        pending -= 8;
      }
    }
  } else {
    const highBits = bits - 16;
    const highMask = (1 << highBits) - 1;
    for (let i = 0; i < n; i++) {
      const c = codes[i];
      acc |= (c & 0xffff) << pending;
      pending += 16;
      while (pending >= 8) {
        dst[p++] = acc & 0xff;
        acc >>>= 8;
        pending -= 8;
      }
      acc |= ((c >>> 16) & highMask) << pending;
      pending += highBits;
      while (pending >= 8) {
        dst[p++] = acc & 0xff;
        acc >>>= 8;
        pending -= 8;
      }
    }
  }
  if (pending > 0) dst[p++] = acc & 0xff;
  return p;
}

export function packBits(codes: Int32Array, bits: number): Uint8Array {
  const dst = new Uint8Array(packedBytes(codes.length, bits));
  packBitsInto(codes, bits, dst, 0);
  return dst;
}

/**
 * Reads `count` codes of `bits` bits from `src` at `offset` into `out` as unsigned fields (a 32-bit field comes
 * back as its int32 bit pattern).
 */
export function unpackBitsFrom(src: Uint8Array, offset: number, count: number, bits: number, out: Int32Array): Int32Array {
  checkBits(bits);
  if (out.length < count) throw new RangeError('unpackBitsFrom: output too small');
  if (offset + packedBytes(count, bits) > src.length) throw new RangeError('unpackBitsFrom: source too short');
  let p = offset;
  if (bits === 8) {
    for (let i = 0; i < count; i++) out[i] = src[p++];
    return out;
  }
  if (bits === 16) {
    for (let i = 0; i < count; i++, p += 2) out[i] = src[p] | (src[p + 1] << 8);
    return out;
  }
  if (bits === 32) {
    for (let i = 0; i < count; i++, p += 4) out[i] = src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24);
    return out;
  }
  let acc = 0;
  let avail = 0;
  if (bits <= 24) {
    const mask = (1 << bits) - 1;
    for (let i = 0; i < count; i++) {
      while (avail < bits) {
        acc |= src[p++] << avail;
        avail += 8;
      }
      out[i] = acc & mask;
      acc >>>= bits;
      avail -= bits;
    }
    return out;
  }
  const highBits = bits - 16;
  const highMask = (1 << highBits) - 1;
  for (let i = 0; i < count; i++) {
    while (avail < 16) {
      acc |= src[p++] << avail;
      avail += 8;
    }
    const low = acc & 0xffff;
    acc >>>= 16;
    avail -= 16;
    while (avail < highBits) {
      acc |= src[p++] << avail;
      avail += 8;
    }
    out[i] = low | ((acc & highMask) << 16);
    acc >>>= highBits;
    avail -= highBits;
  }
  return out;
}

export function unpackBits(src: Uint8Array, count: number, bits: number): Int32Array {
  return unpackBitsFrom(src, 0, count, bits, new Int32Array(count));
}

/** The signed value of a `bits`-wide two's complement field. */
export function signExtend(field: number, bits: number): number {
  const shift = 32 - bits;
  return (field << shift) >> shift;
}
