import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { packBits, packedBytes, signExtend, unpackBits } from '../services/ml/src/artifact/bit-packing.ts';

const maxCode = (bits: number) => 2 ** bits - 1;

test('pack/unpack round-trips unsigned codes for every width 1..16 (and the wide ones)', () => {
  for (const bits of [...Array.from({ length: 16 }, (_, i) => i + 1), 17, 23, 24, 25, 31, 32]) {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: maxCode(bits) }), { maxLength: 300 }), (list) => {
        const codes = Int32Array.from(list);
        const packed = packBits(codes, bits);
        assert.equal(packed.length, packedBytes(codes.length, bits));
        const back = unpackBits(packed, codes.length, bits);
        // A 32-bit field comes back as its int32 bit pattern.
        assert.deepEqual(Array.from(back, (v) => (bits === 32 ? v >>> 0 : v)), list);
      }),
      { numRuns: 60 },
    );
  }
});

test('signed codes survive as two\'s complement fields', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 32 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: 200 }), (bits, us) => {
      const lo = -(2 ** (bits - 1));
      const hi = 2 ** (bits - 1) - 1;
      const codes = Int32Array.from(us, (u) => Math.floor(lo + u * (hi - lo + 1)));
      const back = unpackBits(packBits(codes, bits), codes.length, bits).map((f) => signExtend(f, bits));
      assert.deepEqual(Array.from(back), Array.from(codes));
    }),
    { numRuns: 200 },
  );
});

test('bit order is least significant first, as docs/ARTIFACT.md says', () => {
  // 3-bit codes 1, 2, 3: bits 0-2 = 001, 3-5 = 010, 6-8 = 011 → byte 0 = 0b11_010_001, byte 1 = 0b0.
  assert.deepEqual(Array.from(packBits(Int32Array.of(1, 2, 3), 3)), [0b11010001, 0]);
  // 12-bit codes 0xabc, 0x123 → bytes bc, 3a, 12.
  assert.deepEqual(Array.from(packBits(Int32Array.of(0xabc, 0x123), 12)), [0xbc, 0x3a, 0x12]);
  // 16-bit is little-endian; padding bits of the last byte are zero.
  assert.deepEqual(Array.from(packBits(Int32Array.of(0x1234), 16)), [0x34, 0x12]);
  assert.deepEqual(Array.from(packBits(Int32Array.of(1), 1)), [1]);
});

test('widths outside 1..32 are refused', () => {
  assert.throws(() => packBits(Int32Array.of(0), 0), /bits must be an integer in 1\.\.32/);
  assert.throws(() => packBits(Int32Array.of(0), 33), /bits must be an integer in 1\.\.32/);
});
