/**
 * Training and inference images/s of cnn5 on 32x32x3 inputs (CIFAR-10 binary files written here) for float32,
 * fixed:8 and dictionary:8, and side by side PyTorch (Debian's python3-torch, one thread) on the same network.
 * The machine is shared, so everything is measured in ONE run, interleaved, and reported as ratios.
 *
 *   node --import tsx bench/training.ts [--images 1000] [--rounds 2] [--backend native|wasm] [--threads 1] [--torch-threads 1] [--no-torch]
 * --threads sets the oneDNN threads of the native backend (NATIVE_THREADS); --torch-threads defaults to it.
 *
 * Besides each representation's epoch, every round times the quantizer's own work in an epoch (what train.ts adds to a
 * float32 step: each step's apply, refitting as the representation does) on the float32 run's trained weights, right
 * after that run: "quantizer share" = that time / the float32 epoch's. A ratio of two times taken a moment apart,
 * it holds up on a loaded machine, where the epochs' images/s of separate runs swing by more than the quantizer costs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { ExperimentConfig } from '@quantlab/shared';
import { initBackend, trainExperiment, restoreModel, loadDataset, prepareDataset, type BackendChoice } from '@quantlab/ml';
import { evaluateSplit, weightTensors } from '@quantlab/ml/training/evaluate';
import { Compactor, refitsEachStep } from '@quantlab/ml/training/compactor';
import { Rng } from '@quantlab/ml/random';
import { writeCifarFolder } from '../test/helpers/cifar-files.ts';

const { values } = parseArgs({
  options: { images: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '2' }, backend: { type: 'string', default: 'wasm' }, threads: { type: 'string', default: '1' }, 'torch-threads': { type: 'string' }, 'no-torch': { type: 'boolean' } },
});
const images = Number(values.images);
const rounds = Number(values.rounds);
const REPRS = ['float32', 'fixed:8', 'dictionary:8'] as const;
const reprOf = (r: string) => (r === 'float32' ? { kind: 'float32' } : { kind: r.split(':')[0], bits: Number(r.split(':')[1]) });

const dataDir = mkdtempSync(join(tmpdir(), 'quantlab-bench-'));
writeCifarFolder(dataDir, Math.ceil(images / 5), 1000);
const torchThreads = values['torch-threads'] ?? values.threads!;
const backend = await initBackend(values.backend as BackendChoice, { threads: Number(values.threads) });

const configOf = (repr: string) => ExperimentConfig.parse({ dataset: 'cifar10', model: 'cnn5', representation: reprOf(repr), training: { epochs: 1, batchSize: 100, trainLimit: images, testLimit: 100 } });

async function trainOnce(repr: string) {
  const config = configOf(repr);
  const r = await trainExperiment({ config, dataDir });
  return { ips: r.metrics.imagesPerSec!, artifact: r.artifact! };
}

/** ms of one epoch's quantizer work for `repr` on these weights, as train.ts does it (steps of 100 images). */
function quantizerEpochMs(repr: string, artifact: Uint8Array): number {
  const config = configOf(repr);
  const { model, weights } = restoreModel(artifact);
  const compactor = new Compactor(config, model);
  const refit = refitsEachStep(config);
  const rng = new Rng(1);
  const steps = Math.ceil(images / 100);
  const start = performance.now();
  for (let step = 0; step < steps; step++) compactor.apply(weights, rng, refit || step === 0);
  return performance.now() - start;
}

async function inferenceIps(artifact: Uint8Array): Promise<number> {
  const { model, weights, meta } = restoreModel(artifact);
  const data = prepareDataset(await loadDataset('cifar10', dataDir), { trainLimit: 100, testLimit: 1000 });
  const t = weightTensors(model, weights);
  evaluateSplit(model, t, data.test, meta.normalization); // warm-up
  const start = performance.now();
  evaluateSplit(model, t, data.test, meta.normalization);
  const ms = performance.now() - start;
  t.forEach((x) => x.dispose());
  return data.test.count / (ms / 1000);
}

/** Debian's python3-torch lives under /usr/bin/python3 (a pyenv or venv python3 on the PATH does not see it). */
function findTorchPython(): string | null {
  for (const py of [process.env.PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => Boolean(p))) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

let python: string | null | undefined;
function torchBench(): { train: number; infer: number } | null {
  if (values['no-torch']) return null;
  if (python === undefined) {
    python = findTorchPython();
    if (!python && process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0) {
      console.error('installing Debian\'s python3-torch for the comparison (apt-get install -y python3-torch)...');
      spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'python3-torch'], { stdio: ['ignore', 'ignore', 'inherit'] });
      python = findTorchPython();
    }
    if (!python) console.error('PyTorch not found (Debian: apt-get install python3-torch): comparison skipped');
  }
  if (!python) return null;
  const r = spawnSync(python, [join(import.meta.dirname, 'pytorch_cnn5.py'), '--threads', torchThreads, '--images', String(images)], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`pytorch_cnn5.py failed: ${r.stderr}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { train: number; infer: number };
}

await trainOnce('float32'); // warm-up: wasm compilation, dataset load
const train: Record<string, number[]> = Object.fromEntries(REPRS.map((r) => [r, []]));
const infer: Record<string, number[]> = Object.fromEntries(REPRS.map((r) => [r, []]));
const torch: { train: number; infer: number }[] = [];
const quantShare: Record<string, number[]> = Object.fromEntries(REPRS.map((r) => [r, []]));
const quantMs: Record<string, number[]> = Object.fromEntries(REPRS.map((r) => [r, []]));
for (let round = 0; round < rounds; round++) {
  for (const repr of REPRS) {
    const r = await trainOnce(repr);
    train[repr].push(r.ips);
    infer[repr].push(await inferenceIps(r.artifact));
    if (repr === 'float32') {
      const epochMs = (images / r.ips) * 1000;
      for (const q of REPRS.slice(1)) {
        const ms = quantizerEpochMs(q, r.artifact);
        quantMs[q].push(ms);
        quantShare[q].push(ms / epochMs);
      }
    }
  }
  const t = torchBench();
  if (t) torch.push(t);
}
rmSync(dataDir, { recursive: true, force: true });

const best = (a: number[]) => Math.max(...a);
const torchTrain = torch.length ? best(torch.map((t) => t.train)) : null;
const torchInfer = torch.length ? best(torch.map((t) => t.infer)) : null;
console.log(`node --import tsx bench/training.ts ${process.argv.slice(2).join(' ')}`);
console.log(`cnn5 on 32x32x3, batch 100, ${images} training images per epoch, best of ${rounds} interleaved rounds; backend ${backend}${backend === 'wasm+onednn' ? ` (${values.threads} thread(s))` : ''}; ${cpus()[0]?.model ?? 'cpu'}; TF.js ${tf.version_core}; Node ${process.version}`);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`| representation | train images/s | vs float32 | vs PyTorch ${torchThreads} thread(s) | inference images/s | quantizer ms / epoch (min) | quantizer share of a float32 epoch (median, range) |`);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const repr of REPRS) {
  const ips = best(train[repr]);
  const share = quantShare[repr];
  const q = share.length ? `${Math.min(...quantMs[repr]).toFixed(1)} | ${(100 * median(share)).toFixed(1)}% (${(100 * Math.min(...share)).toFixed(1)}–${(100 * Math.max(...share)).toFixed(1)}%)` : '- | -';
  console.log(`| ${repr} | ${ips.toFixed(0)} | ${(ips / best(train.float32)).toFixed(3)} | ${torchTrain ? (ips / torchTrain).toFixed(3) : '-'} | ${best(infer[repr]).toFixed(0)} | ${q} |`);
}
if (torchTrain) console.log(`| PyTorch ${torch.length} round(s), ${torchThreads} thread(s) | ${torchTrain.toFixed(0)} | | 1 | ${torchInfer!.toFixed(0)} | | |`);
