/**
 * CPU time (process.cpuUsage, so the machine's load does not inflate it) of the quantizer's work in a cnn5 training
 * epoch of `--steps` steps, as train.ts does it: each step's apply (fixed point refits its ranges every step), and for
 * dictionaries one fit an epoch, on cnn5's initial weights (seed 1).
 *
 *   node --import tsx bench/quantizer-cost.ts [--backend native|wasm] [--steps 10] [--reps 20]
 */
import { parseArgs } from 'node:util';
import { ExperimentConfig } from '@quantlab/shared';
import { initBackend, buildModel, type BackendChoice } from '@quantlab/ml';
import { Compactor, refitsEachStep } from '@quantlab/ml/training/compactor';
import { fresh } from '@quantlab/ml/training/run-state';
import { Rng } from '@quantlab/ml/random';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'native' }, steps: { type: 'string', default: '10' }, reps: { type: 'string', default: '20' } } });
const backend = await initBackend(values.backend as BackendChoice, { threads: 1 });
const steps = Number(values.steps);
const reps = Number(values.reps);
const model = buildModel('cnn5', [32, 32, 3], 10);
const cpuMs = (f: () => void): number => {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000;
};
console.log(`quantizer CPU ms in a ${steps}-step cnn5 epoch, ${backend}, median of ${reps}`);
for (const repr of [{ kind: 'fixed', bits: 8 }, { kind: 'dictionary', bits: 8 }]) {
  const config = ExperimentConfig.parse({ dataset: 'cifar10', model: 'cnn5', representation: repr });
  const weights = fresh(model, { train: { count: 100 } } as never, 1).weights;
  const compactor = new Compactor(config, model);
  const refit = refitsEachStep(config);
  const rng = new Rng(1);
  const fit: number[] = [];
  const apply: number[] = [];
  for (let r = 0; r < reps; r++) {
    fit.push(cpuMs(() => compactor.quantizer.fit(compactor.layers(weights))));
    apply.push(cpuMs(() => { for (let s = 0; s < steps; s++) compactor.apply(weights, rng, refit); }) / steps);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const epoch = refit ? steps * med(apply) : med(fit) + steps * med(apply);
  console.log(`${repr.kind}:${repr.bits}  fit ${med(fit).toFixed(2)} ms (${refit ? 'every step, inside apply' : 'once an epoch'}), apply ${med(apply).toFixed(2)} ms a step, epoch ${epoch.toFixed(1)} ms`);
}
