import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { Representation } from '@quantlab/shared';
import { Rng } from '../services/ml/src/random.ts';
import { createQuantizer, float32Bytes, type LayerWeights } from '../services/ml/src/representations/index.ts';
import { ArtifactError, crc32, decodeArtifact, packArtifact } from '../services/ml/src/artifact/index.ts';

const f32 = Math.fround;
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

const reprArb: fc.Arbitrary<Representation> = fc.oneof(
  fc.constant({ kind: 'float32' as const }),
  fc
    .record({
      bits: fc.oneof(fc.integer({ min: 2, max: 16 }), fc.constant(32)),
      range: fc.constantFrom('pow2' as const, 'maxabs' as const, 'mse' as const),
      rounding: fc.constantFrom('nearest' as const, 'stochastic' as const),
      granularity: fc.constantFrom('layer' as const, 'channel' as const),
    })
    .map((r) => Representation.parse({ kind: 'fixed', ...r, bits: r.range === 'mse' ? Math.min(r.bits, 16) : r.bits })),
  fc
    .record({ bits: fc.integer({ min: 1, max: 10 }), range: fc.integer({ min: -4, max: 24 }) })
    .map((r) => Representation.parse({ kind: 'fixed', bits: Math.min(16, r.bits + 1), range: 'pow2', fractionBits: r.range })),
  fc
    .record({
      bits: fc.integer({ min: 1, max: 10 }),
      scope: fc.constantFrom('global' as const, 'per-layer' as const),
      init: fc.constantFrom('uniform' as const, 'nonuniform' as const),
      refine: fc.integer({ min: 0, max: 3 }),
      granularity: fc.constantFrom('layer' as const, 'channel' as const),
    })
    .map((r) => Representation.parse({ kind: 'dictionary', ...r })),
);
const shapeArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 });
const layerArb = (prefix: string) =>
  fc.array(
    shapeArb.chain((shape) =>
      fc
        .float32Array({ min: f32(-3), max: f32(3), noNaN: true, noDefaultInfinity: true, minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) })
        .map((values) => ({ shape, values })),
    ),
    { minLength: 1, maxLength: 4 },
  ).map((ls) => ls.map((l, i): LayerWeights => ({ name: `${prefix}${i}/kernel ü`, ...l })));

test('decode(pack) gives bit for bit the values deploy gave (round to nearest), names, shapes, meta and float32 extras', () => {
  fc.assert(
    fc.property(reprArb, layerArb('conv'), layerArb('bias'), fc.integer(), fc.jsonValue(), (repr, layers, biases, seed, extraMeta) => {
      const q = createQuantizer(repr);
      q.fit(layers);
      const applied = q.deploy(layers);
      // Only stochastic rounding makes apply differ from deploy: the artifact never holds a random draw.
      if (repr.kind !== 'fixed' || repr.rounding === 'nearest') assert.deepEqual(q.apply(layers, new Rng(seed)), applied);
      const meta = { model: 'cnn5', dataset: 'mnist', inputShape: [28, 28, 1], extra: extraMeta };
      const bytes = q.pack(layers, { float32: biases, meta });
      const a = decodeArtifact(bytes);
      assert.deepEqual(a.representation, repr);
      assert.deepEqual(a.meta, JSON.parse(JSON.stringify(meta)));
      assert.equal(a.layers.length, layers.length + biases.length);
      layers.forEach((l, i) => {
        assert.equal(a.layers[i].name, l.name);
        assert.deepEqual(a.layers[i].shape, l.shape);
        assert.deepEqual(bitsOf(a.layers[i].values), bitsOf(applied[i]));
        assert.equal(a.layers[i].encoding, repr.kind);
      });
      biases.forEach((b, i) => {
        const d = a.layers[layers.length + i];
        assert.equal(d.encoding, 'float32');
        assert.deepEqual(bitsOf(d.values), bitsOf(b.values));
      });
      // The error report of the decoded model equals the one of the applied weights.
      assert.deepEqual(q.error(layers, a.layers.slice(0, layers.length).map((l) => l.values)), q.error(layers, applied));
    }),
    { numRuns: 300 },
  );
});

test('at 8 bits the artifact is about 4x smaller than float32, at 4 bits about 8x', () => {
  const rng = new Rng(3);
  const layers = [2400, 25600, 51200, 65536, 640].map((n, i) => ({ name: `l${i}`, shape: [n], values: Float32Array.from({ length: n }, () => rng.normal() * 0.05) }));
  const biases = [32, 32, 64, 64, 10].map((n, i) => ({ name: `b${i}`, shape: [n], values: new Float32Array(n).fill(0.1) }));
  const total = float32Bytes(layers) + float32Bytes(biases);
  for (const [input, lo, hi] of [
    [{ kind: 'fixed', bits: 8 }, 3.95, 4],
    [{ kind: 'dictionary', bits: 8 }, 3.9, 4], // plus 256 float32 entries
    [{ kind: 'fixed', bits: 4 }, 7.8, 8],
    [{ kind: 'float32' }, 0.99, 1],
  ] as const) {
    const repr = Representation.parse(input);
    const bytes = createQuantizer(repr).pack(layers, { float32: biases, meta: { model: 'cnn5' } });
    const ratio = total / bytes.length;
    assert.ok(ratio > lo && ratio <= hi, `${JSON.stringify(input)}: float32/artifact = ${ratio}`);
  }
});

/** The bytes docs/ARTIFACT.md describes for a 4-bit Q-format layer (step 2^-1) and a float32 bias, in `version`. */
function handBuilt(repr: Representation, version: 1 | 2): number[] {
  const enc = new TextEncoder();
  const r = enc.encode(JSON.stringify(repr));
  const m = enc.encode('{"m":1}');
  const expected: number[] = [];
  const u16 = (v: number) => expected.push(v & 255, v >>> 8);
  const u32 = (v: number) => expected.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
  const f64 = (v: number) => expected.push(...new Uint8Array(Float64Array.of(v).buffer));
  const f32le = (v: number) => expected.push(...new Uint8Array(Float32Array.of(v).buffer));
  expected.push(...enc.encode('QLAB'));
  u16(version);
  u16(0);
  u32(r.length);
  expected.push(...r);
  u32(m.length);
  expected.push(...m);
  u16(0); // no dictionaries
  u32(2); // layers
  u16(1);
  expected.push(...enc.encode('w'), 1, 4, 1); // fixed, 4 bits, rank 1
  u32(3);
  if (version === 2) u32(1); // one step for the layer
  f64(0.5); // step 2^-1
  u16(0xffff);
  // codes 2, -1, 7 (9 saturates at 7·0.5): 4-bit fields 0x2, 0xf, 0x7 → bytes 0xf2, 0x07
  expected.push(0xf2, 0x07);
  u16(1);
  expected.push(...enc.encode('b'), 0, 32, 1);
  u32(1);
  if (version === 2) u32(1);
  f64(1);
  u16(0xffff);
  f32le(2);
  u32(zlibCrc32(Uint8Array.from(expected)));
  return expected;
}

test('the byte layout is the one docs/ARTIFACT.md documents; version-1 artifacts still decode', () => {
  const repr = Representation.parse({ kind: 'fixed', bits: 4, range: 'pow2', fractionBits: 1 });
  const layers = [{ name: 'w', shape: [3], values: Float32Array.of(1, -0.5, 9) }];
  const bytes = createQuantizer(repr).pack(layers, { meta: { m: 1 }, float32: [{ name: 'b', shape: [1], values: Float32Array.of(2) }] });
  const expected = handBuilt(repr, 2);
  assert.deepEqual(Array.from(bytes), expected);
  assert.equal(crc32(Uint8Array.from(expected.slice(0, -4))), zlibCrc32(Uint8Array.from(expected.slice(0, -4))));
  assert.deepEqual(Array.from(decodeArtifact(bytes).layers[0].values), [1, -0.5, 3.5]);
  // Version 1 (one f64 scale a record, no count) is read as before; its representation gets today's defaults.
  const v1 = decodeArtifact(Uint8Array.from(handBuilt(Representation.parse({ kind: 'fixed', bits: 4, range: 'pow2', fractionBits: 1 }), 1)));
  assert.equal(v1.version, 1);
  assert.deepEqual(Array.from(v1.layers[0].values), [1, -0.5, 3.5]);
  assert.deepEqual(Array.from(v1.layers[1].values), [2]);
  assert.equal(v1.representation.kind === 'fixed' && v1.representation.granularity, 'layer');
});

test('per-channel steps and scales are stored one per output channel and decode as value = code × scales[i mod C]', () => {
  const rng = new Rng(4);
  // Output channels of very different spreads: per-channel ranges must follow each.
  const values = Float32Array.from({ length: 5 * 3 }, (_, i) => rng.normal() * 10 ** ((i % 3) - 1));
  const layers = [{ name: 'fc/kernel', shape: [5, 3], values }];
  for (const input of [
    { kind: 'fixed', bits: 6, range: 'maxabs', granularity: 'channel' },
    { kind: 'fixed', bits: 6, range: 'pow2', granularity: 'channel' },
    { kind: 'fixed', bits: 6, range: 'mse', granularity: 'channel' },
    { kind: 'dictionary', bits: 3, granularity: 'channel' },
    { kind: 'dictionary', bits: 3, scope: 'per-layer', granularity: 'channel' },
  ] as const) {
    const q = createQuantizer(Representation.parse(input));
    const a = decodeArtifact(q.pack(layers));
    const l = a.layers[0];
    assert.equal(l.scales.length, 3, JSON.stringify(input));
    // The three channels' scales differ by about 10x each.
    assert.ok(l.scales[2] / l.scales[0] > 20, `${JSON.stringify(input)}: scales ${Array.from(l.scales)}`);
    const dict = l.dictionary === null ? null : a.dictionaries[l.dictionary];
    for (let i = 0; i < values.length; i++) assert.equal(l.values[i], f32((dict ? dict[l.codes![i]] : l.codes![i]) * l.scales[i % 3]));
    assert.deepEqual(bitsOf(l.values), bitsOf(q.deploy(layers)[0]));
    // Per-channel ranges approximate the small channel far better than one range for the layer does.
    const perLayer = createQuantizer(Representation.parse({ ...input, granularity: 'layer' }));
    const channel0Error = (d: Float32Array) => [0, 3, 6, 9, 12].reduce((e, i) => e + (values[i] - d[i]) ** 2, 0);
    assert.ok(channel0Error(q.deploy(layers)[0]) < channel0Error(perLayer.deploy(layers)[0]) / 4, JSON.stringify(input));
  }
  assert.throws(
    () => packArtifact({ representation: { kind: 'float32' }, layers: [{ name: 'x', shape: [2, 3], encoding: 'fixed', bits: 4, scales: [1, 2], codes: new Int32Array(6) }] }),
    /2 scales for shape \[2, 3\]/,
  );
});

test('dictionary artifacts carry their entries; decoded codes and scales match the quantizer', () => {
  const rng = new Rng(8);
  const layers = [0, 1].map((i) => ({ name: `l${i}`, shape: [50, 4], values: Float32Array.from({ length: 200 }, () => rng.normal() * (i + 1)) }));
  for (const scope of ['global', 'per-layer'] as const) {
    const repr = Representation.parse({ kind: 'dictionary', bits: 3, scope });
    const q = createQuantizer(repr) as import('../services/ml/src/representations/index.ts').DictionaryQuantizer;
    const a = decodeArtifact(q.pack(layers));
    assert.equal(a.dictionaries.length, scope === 'global' ? 1 : 2);
    a.dictionaries.forEach((d, i) => assert.deepEqual(d, q.dictionaries[i]));
    a.layers.forEach((l, i) => {
      assert.equal(l.scale, q.scales[i]);
      assert.equal(l.dictionary, scope === 'global' ? 0 : i);
      assert.deepEqual(l.codes, q.encode(layers).codes[i]);
    });
  }
});

test('malformed artifacts are refused with a clear ArtifactError', () => {
  const q = createQuantizer(Representation.parse({ kind: 'fixed', bits: 8 }));
  const good = q.pack([{ name: 'w', shape: [2, 2], values: Float32Array.of(1, 2, 3, 4) }], { meta: { model: 'mlp' } });
  const flipped = good.slice();
  flipped[good.length - 8] ^= 1;
  assert.throws(() => decodeArtifact(flipped), (e) => e instanceof ArtifactError && /CRC-32/.test(e.message));
  assert.throws(() => decodeArtifact(good.subarray(0, 20)), ArtifactError);
  assert.throws(() => decodeArtifact(new Uint8Array(3)), /magic "QLAB" missing/);
  const v3 = good.slice();
  v3[4] = 3;
  assert.throws(() => decodeArtifact(v3), /version 3 is not supported/);
  // A Buffer that is a view into a larger pool decodes like a plain Uint8Array.
  const pooled = Buffer.concat([Buffer.alloc(7), Buffer.from(good)]).subarray(7);
  assert.deepEqual(Array.from(decodeArtifact(pooled).layers[0].values), Array.from(decodeArtifact(good).layers[0].values));
  // The writer refuses inconsistent records.
  assert.throws(() => packArtifact({ representation: { kind: 'float32' }, layers: [{ name: 'x', shape: [3], encoding: 'float32', values: new Float32Array(2) }] }), /2 values for shape \[3\]/);
  assert.throws(
    () => packArtifact({ representation: { kind: 'float32' }, dictionaries: [Float32Array.of(0, 1)], layers: [{ name: 'x', shape: [1], encoding: 'dictionary', bits: 1, scales: [1], dictionary: 0, codes: Int32Array.of(2) }] }),
    /code 2 outside its dictionary/,
  );
});
