// Training with compact weights only (training.master "compact", issue 18): stochastic rounding is unbiased, the
// weights never leave the grid or the dictionary, trainingStateBytes is the size of the arrays held, checkpoints hold
// the codes and a resumed run equals the uninterrupted one.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { ExperimentConfig, type ExperimentConfigInput, type Representation } from '@quantlab/shared';
import { buildModel, initBackend, paramCount, restoreModel, Rng, trainExperiment, type TrainOutcome } from '@quantlab/ml';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';
import { Compactor } from '../services/ml/src/training/compactor.ts';
import { CompactMaster, roundBetweenEntries, roundOntoGrid } from '../services/ml/src/training/compact-master.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../services/ml/src/training/checkpoint.ts';
import { fresh, resume, snapshot, trainingStateBytes } from '../services/ml/src/training/run-state.ts';
import { prepareDataset, loadDataset } from '../services/ml/src/datasets/index.ts';

const cfg = (c: Partial<ExperimentConfigInput> & { training?: ExperimentConfigInput['training'] }) => ExperimentConfig.parse({ dataset: 'synthetic', model: 'mlp', ...c });

const FIXED: Representation = { kind: 'fixed', bits: 4, range: 'pow2', rounding: 'stochastic', granularity: 'layer' };
const CHANNEL_FIXED: Representation = { kind: 'fixed', bits: 3, range: 'maxabs', rounding: 'stochastic', granularity: 'channel' };
const DICT: Representation = { kind: 'dictionary', bits: 2, scope: 'global', init: 'uniform', refine: 0, refitEvery: 'epoch', granularity: 'layer', update: 'refit' };
const PER_LAYER_DICT: Representation = { kind: 'dictionary', bits: 3, scope: 'per-layer', init: 'nonuniform', refine: 2, refitEvery: 'step', granularity: 'layer', update: 'refit' };

before(async () => {
  assert.equal(await initBackend(TEST_BACKEND), TEST_BACKEND_NAME);
});

test('stochastic rounding of w + Δw is unbiased: the mean of many draws is within 5σ of the target', () => {
  const N = 4000;
  fc.assert(
    fc.property(fc.double({ min: -1, max: 1, noNaN: true }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (target, seed) => {
      const rng = new Rng(seed);
      // Fixed point: a 4-bit grid of step 1/8 covers [-1, 0.875]; inside it E[code · step] = target.
      const step = 0.125;
      const inside = Math.min(target, 0.875);
      let sum = 0;
      for (let i = 0; i < N; i++) sum += roundOntoGrid(inside, step, -8, 7, rng) * step;
      const p = inside / step - Math.floor(inside / step);
      const sigma = (step * Math.sqrt(p * (1 - p))) / Math.sqrt(N);
      assert.ok(Math.abs(sum / N - inside) <= 5 * sigma + 1e-12, `fixed: mean ${sum / N} vs ${inside} (σ ${sigma})`);
      // Between unevenly spaced dictionary entries.
      const entries = Float32Array.from([-1, -0.3, -0.05, 0.1, 0.6, 1]);
      let k = 0;
      while (k + 2 < entries.length && entries[k + 1] <= target) k++;
      const gap = entries[k + 1] - entries[k];
      const q = Math.min(1, Math.max(0, (target - entries[k]) / gap));
      let total = 0;
      for (let i = 0; i < N; i++) total += entries[roundBetweenEntries(target, entries, rng)];
      const s = (gap * Math.sqrt(q * (1 - q))) / Math.sqrt(N);
      assert.ok(Math.abs(total / N - target) <= 5 * s + 1e-6, `dictionary: mean ${total / N} vs ${target} (σ ${s})`);
    }),
    { numRuns: 40 },
  );
  // Outside the range the update saturates at the end: never beyond it.
  const rng = new Rng(1);
  assert.equal(roundOntoGrid(5, 0.125, -8, 7, rng), 7);
  assert.equal(roundOntoGrid(-5, 0.125, -8, 7, rng), -8);
  assert.equal(roundBetweenEntries(3, Float32Array.from([-1, 0, 1]), rng), 2);
  assert.equal(roundBetweenEntries(-3, Float32Array.from([-1, 0, 1]), rng), 0);
  // Equal entries: a target on them stays on that value (no division by a zero gap).
  const twice = Float32Array.from([-1, 0, 0, 1]);
  for (let i = 0; i < 20; i++) assert.equal(twice[roundBetweenEntries(0, twice, rng)], 0);
});

/** Every quantized param's decoded weights lie on its grid (fixed) or its dictionary (times its unit's scale). */
function assertOnRepresentation(master: CompactMaster, weights: Float32Array[], r: Representation): void {
  const s = master.snapshot;
  master.compactor.indices.forEach((p, k) => {
    const w = weights[p];
    const units = s.scales[k].length;
    for (let j = 0; j < w.length; j++) {
      const scale = s.scales[k][j % units];
      if (r.kind === 'fixed') {
        const code = Math.round(w[j] / scale);
        assert.ok(code >= -(2 ** (r.bits - 1)) && code <= 2 ** (r.bits - 1) - 1, `code ${code} out of range`);
        assert.equal(w[j], Math.fround(code * scale), `weight ${j} of param ${p} is off the grid`);
        assert.equal(s.codes[k][j], code);
      } else {
        const entries = s.dictionaries[r.kind === 'dictionary' && r.scope === 'global' ? 0 : k];
        assert.equal(w[j], Math.fround(entries[s.codes[k][j]] * scale), `weight ${j} of param ${p} is not an entry`);
      }
    }
  });
}

test('property: during compact training the weights never leave the grid or the dictionary', () => {
  const model = buildModel('mlp', [3, 3, 2], 4);
  fc.assert(
    fc.property(
      fc.constantFrom(FIXED, CHANNEL_FIXED, DICT, PER_LAYER_DICT),
      fc.integer({ min: 1, max: 1000 }),
      fc.double({ min: 1e-4, max: 2, noNaN: true }),
      (representation, seed, lr) => {
        const config = cfg({ representation, training: { master: 'compact', momentum: 0.9 } });
        const compactor = new Compactor(config, model);
        const rng = new Rng(seed);
        const weights = model.params.map((p) => Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.3));
        const velocity = weights.map((w) => new Float32Array(w.length));
        const master = new CompactMaster(compactor, weights);
        assertOnRepresentation(master, weights, representation);
        const decays = model.params.map((p) => p.kind === 'kernel');
        for (let step = 0; step < 6; step++) {
          // Large and tiny gradients alike: saturation and sub-step updates.
          const grads = weights.map((w) => Float32Array.from(w, () => rng.normal() * (step % 2 ? 5 : 1e-3)));
          master.step(weights, velocity, grads, decays, { lr, momentum: 0.9, weightDecay: 5e-4 }, rng);
          assertOnRepresentation(master, weights, representation);
          if (step === 2) {
            master.refit(weights);
            master.decodeInto(weights);
            assertOnRepresentation(master, weights, representation);
          }
        }
      },
    ),
    { numRuns: 30 },
  );
});

test('property: trainingStateBytes is the size of the arrays training holds (and of what the checkpoint stores)', async () => {
  const data = prepareDataset(await loadDataset('synthetic', './data'), { trainLimit: 10, testLimit: 10 });
  const reprs: Representation[] = [{ kind: 'float32' }, FIXED, CHANNEL_FIXED, DICT, PER_LAYER_DICT, { kind: 'fixed', bits: 12, range: 'mse', rounding: 'stochastic', granularity: 'layer' }, { ...DICT, bits: 10 } as Representation];
  fc.assert(
    fc.property(fc.constantFrom(...reprs), fc.constantFrom('mlp' as const, 'cnn5' as const), fc.boolean(), fc.boolean(), (representation, modelName, compact, quantizeBiases) => {
      const master = compact && representation.kind !== 'float32' ? 'compact' : 'float32';
      const config = cfg({ representation, model: modelName, quantizeBiases, training: { master } });
      const model = buildModel(modelName, data.raw.shape, data.raw.numClasses);
      const compactor = new Compactor(config, model);
      const state = fresh(model, data, 1, master === 'compact' ? compactor : null);
      const bytes = trainingStateBytes(state);
      const P = paramCount(model);
      // float32: a float per weight and one per momentum entry.
      assert.equal(bytes.float32, 8 * P);
      if (master === 'float32') return assert.equal(bytes.compact, 8 * P);
      // By hand from the shapes: params kept in float32, codes at their narrowest integer type, a float64 per scale
      // unit, a float32 per dictionary entry, float32 momentum for every param.
      const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
      const q = new Set(compactor.indices);
      const r = representation as Exclude<Representation, { kind: 'float32' }>;
      const codeBytes = r.kind === 'fixed' ? (r.bits <= 8 ? 1 : r.bits <= 16 ? 2 : 4) : r.bits <= 8 ? 1 : 2;
      const units = (shape: number[]) => (r.granularity === 'channel' ? shape[shape.length - 1] : 1);
      let expected = 4 * P;
      model.params.forEach((p, i) => (expected += q.has(i) ? size(p.shape) * codeBytes + 8 * units(p.shape) : 4 * size(p.shape)));
      if (r.kind === 'dictionary') expected += 4 * 2 ** r.bits * (r.scope === 'global' ? 1 : compactor.indices.length);
      assert.equal(bytes.compact, expected);
      // The checkpoint stores exactly those arrays (plus its header): nothing float32 is left of the quantized params.
      const ck = encodeCheckpoint(snapshot(state, 'k'));
      const headerLength = new DataView(ck.buffer, ck.byteOffset).getUint32(8, true);
      assert.equal(ck.length - Math.ceil((12 + headerLength) / 8) * 8, bytes.compact);
      const back = decodeCheckpoint(ck);
      for (const i of compactor.indices) assert.equal(back.weights[i].length, 0);
    }),
    { numRuns: 40 },
  );
});

const comparable = (r: TrainOutcome) => r.epochs.map(({ trainLoss, trainAccuracy, testAccuracy }) => ({ trainLoss, trainAccuracy, testAccuracy }));

test('a compact-master run learns, its checkpoints hold codes, and resuming after epoch 1 gives exactly the uninterrupted run', async () => {
  for (const representation of [FIXED, DICT]) {
    const config = cfg({ representation, training: { epochs: 3, trainLimit: 600, testLimit: 200, seed: 3, master: 'compact', learningRate: 0.05 } });
    const checkpoints: Uint8Array[] = [];
    const tensors = tf.memory().numTensors;
    const whole = await trainExperiment({ config, dataDir: './data' }, { onEpoch: (_e, ck) => void checkpoints.push(ck) });
    assert.equal(tf.memory().numTensors, tensors, 'no tensor leaks');
    assert.equal(whole.status, 'completed');
    assert.ok(whole.metrics.testAccuracy! > 0.5, `${representation.kind}: test accuracy ${whole.metrics.testAccuracy}`);
    // The reported accuracy is the artifact's, which is the last epoch's (deployment rounds to nearest).
    assert.equal(whole.metrics.testAccuracy, whole.epochs.at(-1)!.testAccuracy);
    assert.equal(restoreModel(whole.artifact!).artifact.representation.kind, representation.kind);
    const ck = decodeCheckpoint(checkpoints[0]);
    assert.ok(ck.compact, 'the checkpoint holds the compact state');
    assert.equal(ck.compact.codeType, representation.kind === 'fixed' ? 'i8' : 'u8');
    assert.equal(whole.metrics.trainingStateBytes!.compact < whole.metrics.trainingStateBytes!.float32, true);

    const resumed = await trainExperiment({ config, dataDir: './data', resumeFrom: checkpoints[0] });
    assert.deepEqual(resumed.epochs.map((e) => e.epoch), [2, 3]);
    assert.deepEqual(comparable(resumed), comparable(whole).slice(1));
    assert.equal(resumed.metrics.testAccuracy, whole.metrics.testAccuracy);
    assert.deepEqual(resumed.artifact, whole.artifact);
    // A float32-master run of the same representation cannot take this checkpoint (another config), and a damaged
    // compact state is refused rather than trained on.
    await assert.rejects(trainExperiment({ config: cfg({ representation, training: { ...config.training, master: 'float32' } }), dataDir: './data', resumeFrom: checkpoints[0] }), /different config/);
    const model = buildModel('mlp', [16, 16, 3], 10);
    const compactor = new Compactor(config, model);
    const data = prepareDataset(await loadDataset('synthetic', './data'), config.training);
    const keys = [ck.configKey];
    const damaged = { ...ck, compact: { ...ck.compact, codes: ck.compact.codes.slice(1) } };
    assert.throws(() => resume(encodeCheckpoint(damaged), model, data, keys, compactor), /checkpoint/);
  }
});

test('the schema refuses a compact master where it cannot apply', () => {
  const refused = (c: ExperimentConfigInput, why: RegExp) => {
    const r = ExperimentConfig.safeParse(c);
    assert.equal(r.success, false);
    assert.deepEqual(r.error!.issues[0].path, ['training', 'master']);
    assert.match(r.error!.issues[0].message, why);
  };
  refused({ dataset: 'mnist', training: { master: 'compact' } }, /compact representation/);
  refused({ dataset: 'mnist', representation: { kind: 'fixed', bits: 8 }, training: { master: 'compact' } }, /rounding "stochastic"/);
  refused({ dataset: 'mnist', phase: 'inference', representation: { kind: 'dictionary', bits: 4 }, training: { master: 'compact' } }, /phase "training"/);
  assert.equal(ExperimentConfig.parse({ dataset: 'mnist' }).training.master, 'float32');
  assert.equal(ExperimentConfig.parse({ dataset: 'mnist', representation: { kind: 'dictionary', bits: 4 }, training: { master: 'compact' } }).training.master, 'compact');
});
