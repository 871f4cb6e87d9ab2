// Stochastic rounding is a training device: every reported accuracy is the one of the weights as deployed (round to
// nearest of the final master weights), so the run's metrics, its last epoch and `quantlab eval` of its artifact
// are one number, and no random draw decides it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExperimentConfig, Representation, type ExperimentConfigInput } from '@quantlab/shared';
import { initBackend, trainExperiment } from '@quantlab/ml';
import { decodeBitset, popcount } from '../services/shared/src/sweeps/stats.ts';
import { quantlab } from './helpers/lifecycle-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ql-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
});

const cfg = (representation: ExperimentConfigInput['representation'], training: ExperimentConfigInput['training'] = {}) =>
  ExperimentConfig.parse({
    dataset: 'mnist',
    model: 'mlp',
    representation,
    training: { epochs: 2, learningRate: 0.1, trainLimit: 400, testLimit: 300, seed: 5, ...training },
  });

const REPRESENTATIONS: Representation[] = [
  { kind: 'float32' },
  { kind: 'fixed', bits: 3, range: 'maxabs', rounding: 'stochastic' },
  { kind: 'fixed', bits: 4, range: 'pow2', rounding: 'nearest' },
  { kind: 'fixed', bits: 4, range: 'mse', rounding: 'stochastic', granularity: 'channel' },
  { kind: 'dictionary', bits: 2 },
  { kind: 'dictionary', bits: 3, scope: 'per-layer', refine: 2, granularity: 'channel' },
  // Per-layer widths (mlp: fc1, fc2; 32 keeps fc2 float32) and a learned (gradient-trained) dictionary.
  { kind: 'fixed', bits: 8, range: 'pow2', bitsPerLayer: { fc1: 3, fc2: 32 } },
  { kind: 'dictionary', bits: 4, scope: 'per-layer', bitsPerLayer: [2, 5] },
  { kind: 'dictionary', bits: 2, update: 'gradient' },
].map((r) => Representation.parse(r));

test('metrics.testAccuracy, the last epoch testAccuracy and quantlab eval of the artifact are the same number, for every representation', async () => {
  for (const representation of REPRESENTATIONS) {
    const out = await trainExperiment({ config: cfg(representation), dataDir: './data' });
    assert.equal(out.status, 'completed');
    const file = join(dir, `${representation.kind}-${out.epochs.length}-${Math.random().toString(36).slice(2)}.qlab`);
    writeFileSync(file, out.artifact!);
    const r = await quantlab(['eval', file, '--json', '--backend', 'wasm'], { DATA_DIR: dir });
    assert.equal(r.code, 0, r.stderr);
    const evaluated = JSON.parse(r.stdout) as { testAccuracy: number; test: number };
    const label = JSON.stringify(representation);
    assert.equal(evaluated.test, 300, label);
    assert.equal(out.metrics.testAccuracy, out.epochs.at(-1)!.testAccuracy, `${label}: metrics vs last epoch`);
    assert.equal(evaluated.testAccuracy, out.metrics.testAccuracy, `${label}: eval vs metrics`);
    // The stored bitset of correctly classified test images counts the same images.
    const bits = decodeBitset(out.metrics.correct!);
    assert.equal(bits.length, Math.ceil(300 / 8));
    assert.equal(popcount(bits), Math.round(out.metrics.testAccuracy! * 300), label);
  }
});

test('per-epoch evaluation rounds to nearest: epoch 1 of a longer run scores what a 1-epoch run artifact scores', async () => {
  const representation = Representation.parse({ kind: 'fixed', bits: 3, rounding: 'stochastic' });
  // A constant schedule makes the first epoch of both runs the same trajectory.
  const long = await trainExperiment({ config: cfg(representation, { epochs: 2, schedule: 'constant' }), dataDir: './data' });
  const short = await trainExperiment({ config: cfg(representation, { epochs: 1, schedule: 'constant' }), dataDir: './data' });
  assert.equal(long.epochs[0].trainLoss, short.epochs[0].trainLoss, 'the same first epoch');
  assert.equal(long.epochs[0].testAccuracy, short.metrics.testAccuracy);
  // The deployed weights are deterministic: the stochastic draws of training change nothing after it.
  const again = await trainExperiment({ config: cfg(representation, { epochs: 1, schedule: 'constant' }), dataDir: './data' });
  assert.deepEqual(again.artifact, short.artifact);
});
