// Energy per inference image (docs/ENERGY.md): MAC counts from the models' shapes and Horowitz's 45 nm table, checked
// against values computed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Representation } from '@quantlab/shared';
import { buildModel } from '@quantlab/ml';
import { macsPerImage, macsPerLayer } from '../services/ml/src/models/macs.ts';
import { HOROWITZ_45NM_PJ, integerMacPj, modelEnergy } from '../services/ml/src/training/energy.ts';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('MACs per image from the param shapes and spatial sizes', () => {
  // cnn5 on 28x28x1: conv1 5·5·1·32 at 28x28, conv2 5·5·32·32 at 14x14, conv3 5·5·32·64 at 7x7, fc1 1024·64, fc2 64·10.
  const cnn5 = buildModel('cnn5', [28, 28, 1], 10);
  assert.deepEqual(
    macsPerLayer(cnn5).map((l) => [l.name, l.macs]),
    [
      ['conv1/kernel', 800 * 784],
      ['conv2/kernel', 25_600 * 196],
      ['conv3/kernel', 51_200 * 49],
      ['fc1/kernel', 65_536],
      ['fc2/kernel', 640],
    ],
  );
  assert.equal(macsPerImage(cnn5), 8_219_776);
  // cifar10_quick on 32x32x3: 2,457,600 + 6,553,600 + 3,276,800 + 65,536 + 640.
  assert.equal(macsPerImage(buildModel('cnn5', [32, 32, 3], 10)), 12_354_176);
  // ResNet-20 on CIFAR: the 40.55 M of He et al.'s count: conv1 3·3·3·16·1024, stage 1 six 3·3·16·16 at 32x32,
  // stage 2 3·3·16·32 + five 3·3·32·32 at 16x16, stage 3 3·3·32·64 + five 3·3·64·64 at 8x8, fc 64·10.
  assert.equal(macsPerImage(buildModel('resnet20', [32, 32, 3], 10)), 442_368 + 6 * 2_359_296 + 1_179_648 + 5 * 2_359_296 + 1_179_648 + 5 * 2_359_296 + 640);
  // VGG-Small on 32x32x3: 3·3·3·128 and 3·3·128·128 at 32x32, 3·3·128·256 and 3·3·256·256 at 16x16, 3·3·256·512 and
  // 3·3·512·512 at 8x8, fc 8192·10.
  assert.equal(macsPerImage(buildModel('vgg-small', [32, 32, 3], 10)), 3456 * 1024 + 147_456 * 1024 + 294_912 * 256 + 589_824 * 256 + 1_179_648 * 64 + 2_359_296 * 64 + 81_920);
  assert.equal(macsPerImage(buildModel('mlp', [28, 28, 1], 10)), 784 * 128 + 128 * 10);
});

test('cnn5 on 28x28x1 at float32, fixed:8 and dictionary:4: hand-computed picojoules', () => {
  const cnn5 = buildModel('cnn5', [28, 28, 1], 10);
  // 143,776 kernel weights and 202 biases (float32 unless quantizeBiases); 8,219,776 MACs at 3.7 + 0.9 pJ.
  const macPj = 8_219_776 * 4.6;
  const cases: [Representation, number, number][] = [
    // weights: bits / 32 × 640 pJ = bits × 20 pJ. integer MAC at N bits: 0.2 (N/8)² + 0.03 N/8.
    [{ kind: 'float32' }, 143_978 * 32 * 20, 3.32],
    [Representation.parse({ kind: 'fixed', bits: 8 }), (143_776 * 8 + 202 * 32) * 20, 0.23],
    [Representation.parse({ kind: 'dictionary', bits: 4 }), (143_776 * 4 + 202 * 32) * 20, 0.065],
  ];
  for (const [r, weightReadPj, intMac] of cases) {
    const e = modelEnergy(cnn5, r, false);
    close(e.weightReadPj, weightReadPj, `${r.kind} weights`);
    close(e.macPj, macPj, `${r.kind} MACs`);
    close(e.totalPj, weightReadPj + macPj, `${r.kind} total`);
    assert.equal(e.macs, 8_219_776);
    assert.equal(e.ifActivations.bits, r.kind === 'float32' ? 32 : r.bits);
    close(e.ifActivations.macPj, 8_219_776 * intMac, `${r.kind} integer MACs`);
    close(e.ifActivations.totalPj, weightReadPj + 8_219_776 * intMac, `${r.kind} integer total`);
  }
  // The fixed:8 numbers spelled out: 23,133,440 pJ of weight reads, 37,810,969.6 pJ of fp32 MACs.
  close(modelEnergy(cnn5, Representation.parse({ kind: 'fixed', bits: 8 }), false).totalPj, 23_133_440 + 37_810_969.6, 'fixed:8 total');
  // bitsPerLayer: each layer's kernel is read at its own width, a layer at 32 in float32 (conv1 800, fc2 640 weights).
  close(
    modelEnergy(cnn5, Representation.parse({ kind: 'fixed', bits: 4, bitsPerLayer: { conv1: 32, fc2: 8 } }), false).weightReadPj,
    (800 * 32 + (25_600 + 51_200 + 65_536) * 4 + 640 * 8 + 202 * 32) * 20,
    'fixed:4 with conv1 at 32 and fc2 at 8',
  );
  // Quantized biases are read at the representation's bits too.
  close(modelEnergy(cnn5, Representation.parse({ kind: 'fixed', bits: 8 }), true).weightReadPj, 143_978 * 8 * 20, 'fixed:8 with biases');
  // The scaling rule lands near Horowitz's own 32-bit integer figures (3.1 pJ multiply + 0.1 pJ add).
  assert.ok(Math.abs(integerMacPj(32) - 3.2) < 0.2 + 1e-12);
  assert.equal(HOROWITZ_45NM_PJ.dramRead32, 640);
});

test('a model known only by its graph (an upload) is counted by walking the graph: the built-ins give their hand counts', () => {
  for (const [name, shape] of [
    ['cnn5', [28, 28, 1]],
    ['cnn5', [32, 32, 3]],
    ['mlp', [28, 28, 1]],
    ['resnet20', [32, 32, 3]],
    ['vgg-small', [32, 32, 3]],
  ] as const) {
    const model = buildModel(name, [...shape], 10);
    assert.ok(model.graph, name);
    const asUpload = { ...model, name: 'mdl_0123456789abcdef' as typeof model.name };
    assert.deepEqual(macsPerLayer(asUpload), macsPerLayer(model), `${name} ${shape.join('x')}`);
  }
  const { graph: _g, ...noGraph } = buildModel('mlp', [28, 28, 1], 10);
  assert.throws(() => macsPerLayer({ ...noGraph, name: 'mdl_0123456789abcdef' as 'mlp' }), /MAC count: unknown model mdl_0123456789abcdef/);
});
