/**
 * CPU time (process.cpuUsage, so the machine's load does not inflate it) of the quantizer's work in a cnn5 training
 * epoch of `--steps` steps, as train.ts does it: each step's apply (fixed point refits its ranges every step), and for
 * dictionaries one fit an epoch, on the weights of a cnn5 trained for `--epochs` float32 epochs on `--images` images
 * (synthetic CIFAR-10 files). That float32 run's own epochs, CPU time from one epoch's end to the next (its short
 * test pass and checkpoint included), are the denominator: quantizer share = quantizer CPU / float32 epoch CPU.
 *
 *   node --import tsx bench/quantizer-cost.ts [--backend native|wasm] [--images 1000] [--epochs 4] [--reps 20]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ExperimentConfig } from '@quantlab/shared';
import { initBackend, restoreModel, trainExperiment, type BackendChoice } from '@quantlab/ml';
import { Compactor, refitsEachStep } from '@quantlab/ml/training/compactor';
import { writeCifarFolder } from '../test/helpers/cifar-files.ts';
import { Rng } from '@quantlab/ml/random';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'native' }, images: { type: 'string', default: '1000' }, epochs: { type: 'string', default: '4' }, reps: { type: 'string', default: '20' } } });
const backend = await initBackend(values.backend as BackendChoice, { threads: 1 });
const images = Number(values.images);
const steps = Math.ceil(images / 100);
const reps = Number(values.reps);
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const cpuMs = (f: () => void): number => {
  const t = cpuNow();
  f();
  return cpuNow() - t;
};
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const dataDir = mkdtempSync(join(tmpdir(), 'quantlab-qcost-'));
writeCifarFolder(dataDir, Math.ceil(images / 5), 100);
const ends: number[] = [];
const trained = await trainExperiment(
  { config: ExperimentConfig.parse({ dataset: 'cifar10', model: 'cnn5', training: { epochs: Number(values.epochs), batchSize: 100, trainLimit: images, testLimit: 100 } }), dataDir },
  { onEpoch: async () => void ends.push(cpuNow()) },
);
rmSync(dataDir, { recursive: true, force: true });
const epochCpu = med(ends.slice(1).map((t, i) => t - ends[i]));
const { model, weights } = restoreModel(trained.artifact!);
console.log(`cnn5, ${steps} steps of 100 images an epoch, ${backend}: a float32 epoch ${epochCpu.toFixed(0)} ms of CPU (median of ${ends.length - 1}); quantizer CPU, median of ${reps}:`);
for (const repr of [{ kind: 'fixed', bits: 8 }, { kind: 'dictionary', bits: 8 }]) {
  const config = ExperimentConfig.parse({ dataset: 'cifar10', model: 'cnn5', representation: repr });
  const compactor = new Compactor(config, model);
  const refit = refitsEachStep(config);
  const rng = new Rng(1);
  const fit: number[] = [];
  const apply: number[] = [];
  for (let r = 0; r < reps; r++) {
    fit.push(cpuMs(() => compactor.quantizer.fit(compactor.layers(weights))));
    apply.push(cpuMs(() => { for (let s = 0; s < steps; s++) compactor.apply(weights, rng, refit); }) / steps);
  }
  const epoch = refit ? steps * med(apply) : med(fit) + steps * med(apply);
  console.log(
    `${repr.kind}:${repr.bits}  fit ${med(fit).toFixed(2)} ms (${refit ? 'every step, inside apply' : 'once an epoch'}), apply ${med(apply).toFixed(2)} ms a step: ${epoch.toFixed(1)} ms an epoch, ${((100 * epoch) / epochCpu).toFixed(1)}% of the float32 epoch`,
  );
}
