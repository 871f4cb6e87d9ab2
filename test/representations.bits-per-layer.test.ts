// Per-layer bit widths (bitsPerLayer): validated against the model's layers, recorded per layer in the artifact,
// round-tripping bit for bit, and a 32 keeps a layer float32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExperimentConfig, MODEL_LAYERS, MODELS, Representation, seriesOf } from '@quantlab/shared';
import { buildModel } from '../services/ml/src/models/index.ts';
import { createQuantizer, resolveWidths, type LayerWeights } from '../services/ml/src/representations/index.ts';
import { decodeArtifact } from '../services/ml/src/artifact/index.ts';

const f32 = Math.fround;
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

test("shared's MODEL_LAYERS are the built-in models' kernel layers, in param order", () => {
  for (const name of MODELS) {
    const model = buildModel(name, [28, 28, 1], 10);
    const kernels = model.params.filter((p) => p.kind === 'kernel').map((p) => p.name.replace(/\/kernel$/, ''));
    assert.deepEqual([...MODEL_LAYERS[name]], kernels, name);
  }
});

test('widths by name (the rest take bits) or by list; a bias follows its layer; BatchNorm params take bits; 32 is float32', () => {
  const params = [
    { name: 'conv1/kernel', kind: 'kernel' as const },
    { name: 'conv1/bias', kind: 'bias' as const },
    { name: 'bn1/gamma', kind: 'scale' as const },
    { name: 'fc/kernel', kind: 'kernel' as const },
  ];
  assert.deepEqual(resolveWidths({ bits: 6, bitsPerLayer: { fc: 3 } }, params), [6, 6, 6, 3]);
  assert.deepEqual(resolveWidths({ bits: 6, bitsPerLayer: [32, 2] }, params), [null, null, 6, 2]);
  assert.deepEqual(resolveWidths({ bits: 32 }, params), [32, 32, 32, 32], 'a uniform 32 stays a 32-bit quantizer (the identity check)');
  assert.throws(() => resolveWidths({ bits: 6, bitsPerLayer: { conv9: 3 } }, params), /names layer "conv9"; the layers are conv1, fc/);
  assert.throws(() => resolveWidths({ bits: 6, bitsPerLayer: [2, 3, 4] }, params), /lists 3 widths for 2 layers/);
});

test('at submission, an unknown layer or a list of the wrong length is refused naming it', () => {
  const unknown = ExperimentConfig.safeParse({ dataset: 'mnist', model: 'cnn5', representation: { kind: 'fixed', bits: 4, bitsPerLayer: { conv1: 2, dense9: 3 } } });
  assert.equal(unknown.success, false);
  assert.deepEqual(unknown.error!.issues[0].path, ['representation', 'bitsPerLayer', 'dense9']);
  assert.equal(unknown.error!.issues[0].message, 'cnn5 has no layer "dense9" (its layers: conv1, conv2, conv3, fc1, fc2)');
  const count = ExperimentConfig.safeParse({ dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 4, bitsPerLayer: [2, 3, 4] } });
  assert.equal(count.error!.issues[0].message, 'mlp has 2 layers (fc1, fc2); bitsPerLayer lists 3 widths');
  const width = Representation.safeParse({ kind: 'fixed', bits: 4, bitsPerLayer: { conv1: 17 } });
  assert.match(width.error!.issues[0].message, /2\.\.16 bits, or 32/);
  const global = Representation.safeParse({ kind: 'dictionary', bits: 4, bitsPerLayer: { conv1: 2 } });
  assert.match(global.error!.issues[0].message, /needs scope "per-layer"/);
  assert.equal(ExperimentConfig.safeParse({ dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 4, bitsPerLayer: [2, 32] } }).success, true);
});

test('series: one layer quantized, the rest float32, is a sensitivity series; other widths are listed in layer order', () => {
  const r = (bitsPerLayer: Record<string, number> | number[], bits = 4) => Representation.parse({ kind: 'fixed', bits, range: 'pow2', bitsPerLayer });
  assert.equal(seriesOf(r({ conv2: 32, conv3: 32, fc1: 32, fc2: 32 }), 'inference', 'cnn5'), 'fixed/pow2/nearest/inference/layer:conv1');
  assert.equal(seriesOf(r([4, 4, 2, 2, 8]), 'training', 'cnn5'), 'fixed/pow2/nearest/training/bits:4.4.2.2.8');
  assert.equal(seriesOf(r({ fc1: 2 }), 'training', 'cnn5'), 'fixed/pow2/nearest/training/bits:4.4.4.2.4');
  assert.equal(seriesOf(Representation.parse({ kind: 'fixed', bits: 4, range: 'pow2' }), 'training', 'cnn5'), 'fixed/pow2/nearest/training', 'uniform series keep their names');
  const learned = Representation.parse({ kind: 'dictionary', bits: 2, update: 'gradient' });
  assert.equal(seriesOf(learned, 'training', 'cnn5'), 'dictionary/global/uniform/r0/epoch:gradient/training');
});

const layersArb = fc
  .array(
    fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 })).chain(([a, b]) =>
      fc.float32Array({ min: f32(-2), max: f32(2), noNaN: true, noDefaultInfinity: true, minLength: a * b, maxLength: a * b }).map((values) => ({ shape: [a, b], values })),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((ls) => ls.map((l, i): LayerWeights => ({ name: `layer${i}/kernel`, ...l })));

const reprArb = (n: number) =>
  fc.oneof(
    fc
      .record({
        widths: fc.array(fc.oneof(fc.integer({ min: 2, max: 16 }), fc.constant(32)), { minLength: n, maxLength: n }),
        range: fc.constantFrom('pow2' as const, 'maxabs' as const, 'mse' as const),
        granularity: fc.constantFrom('layer' as const, 'channel' as const),
      })
      .map((r) => Representation.parse({ kind: 'fixed', bits: 8, range: r.range, granularity: r.granularity, bitsPerLayer: r.widths })),
    fc
      .record({
        widths: fc.array(fc.oneof(fc.integer({ min: 1, max: 10 }), fc.constant(32)), { minLength: n, maxLength: n }),
        granularity: fc.constantFrom('layer' as const, 'channel' as const),
        init: fc.constantFrom('uniform' as const, 'nonuniform' as const),
      })
      .map((r) => Representation.parse({ kind: 'dictionary', bits: 4, scope: 'per-layer', init: r.init, granularity: r.granularity, bitsPerLayer: r.widths })),
  );

test('an artifact with per-layer widths records each width, decodes bit for bit to the deployed weights, and packs the same bytes again', () => {
  fc.assert(
    fc.property(
      layersArb.chain((layers) => fc.tuple(fc.constant(layers), reprArb(layers.length))),
      ([layers, repr]) => {
        const q = createQuantizer(repr);
        q.fit(layers);
        const deployed = q.deploy(layers);
        const bytes = q.pack(layers, { meta: { model: 'test' } });
        const a = decodeArtifact(bytes);
        assert.equal(a.version, 2);
        assert.deepEqual(a.representation, repr);
        const widths = (repr as { bitsPerLayer: number[] }).bitsPerLayer;
        layers.forEach((l, i) => {
          const d = a.layers[i];
          assert.equal(d.name, l.name);
          assert.equal(d.bits, widths[i], `layer ${i} width`);
          assert.equal(d.encoding, widths[i] === 32 ? 'float32' : repr.kind);
          if (widths[i] === 32) assert.deepEqual(bitsOf(d.values), bitsOf(l.values), 'a 32-bit layer keeps its weights exactly');
          assert.deepEqual(bitsOf(d.values), bitsOf(deployed[i]));
          if (d.encoding === 'dictionary') assert.equal(a.dictionaries[d.dictionary!].length, 2 ** widths[i]);
        });
        // Only the dictionaries some layer uses are stored.
        if (repr.kind === 'dictionary') assert.equal(a.dictionaries.length, widths.filter((w) => w !== 32).length);
        assert.deepEqual(Buffer.from(q.pack(layers, { meta: { model: 'test' } })), Buffer.from(bytes));
      },
    ),
    { numRuns: 150 },
  );
});
