import { ExperimentConfig, type ExperimentConfigInput } from '../schemas/experiment.ts';
import type { PresetSweepRequest, RepresentationPattern } from '../schemas/sweep.ts';
import type { Grid } from './grid.ts';

/**
 * The paper's bit-width study (Kibune & Lee, ICONIP 2017) as a sweep. The recipe is the one FACTS.md found to bring
 * this CNN to about 75% on CIFAR-10 in float32: SGD with momentum 0.9, weight decay 5e-4, learning rate 0.01 with
 * cosine decay over 10 epochs, batch 100, augmentation (random crop and flip) on CIFAR-10.
 */
const PAPER_FIXED_BITS = [2, 3, 4, 5, 6, 8, 10, 12, 16];
const PAPER_DICTIONARY_BITS = [1, 2, 3, 4, 5, 6, 7, 8];
const PAPER_EPOCHS = 10;

// 'small' is sized for one 2-core machine with two worker processes. Measured (docs/REPRODUCTION.md, native oneDNN
// kernels): the 99 float32-master runs of seeds 1-3 took 53 minutes, about 18 a seed; the 36 compact-master runs
// (12 a seed: 4 fixed-point, 8 dictionary) come on top and were not timed on their own.
const SMALL = { fixedBits: [2, 4, 6, 8], dictionaryBits: [1, 2, 4, 8], trainLimit: 6000, testLimit: 2000, epochs: 10 };
// One seed cannot separate results closer than its test set's binomial noise (±1.5 points at 2,000 images): three
// seeds give a t-interval of the mean and a paired test per seed.
const SEEDS = [1, 2, 3];

// The paper's claim of memory savings "in both training and inference phases" (issue 18): the training-phase series
// of Q-format fixed point with stochastic rounding and of the global dictionary run a second time with compact
// weights only, as the series `.../training/compact` beside their float32-master ones.
const MASTER = 'training.master';
const MASTERS: ('float32' | 'compact')[] = ['float32', 'compact'];

interface PresetShape {
  defaultDataset: ExperimentConfig['dataset'];
  training: Partial<ExperimentConfig['training']>;
  representation: RepresentationPattern[];
  seeds: number[];
  epochBudget: string;
  description: string;
}

const PAPER: Record<'full' | 'small', PresetShape> = {
  full: {
    defaultDataset: 'cifar10',
    training: { epochs: PAPER_EPOCHS },
    representation: [
      // The paper's fixed point is the Q-format (pow2); maxabs and mse (linear quantization) are one entry away.
      { kind: 'fixed', bits: PAPER_FIXED_BITS, range: 'pow2', rounding: ['nearest', 'stochastic'] },
      { kind: 'dictionary', bits: PAPER_DICTIONARY_BITS, init: ['uniform', 'nonuniform'], scope: ['global', 'per-layer'] },
    ],
    seeds: SEEDS,
    epochBudget: `${PAPER_EPOCHS} epochs on the full training set per training-phase run (baseline included); inference-phase runs quantize their seed's float32 baseline and only evaluate`,
    description:
      'The paper grid: cnn5; Q-format fixed point (pow2 range) at 2-16 bits (nearest and stochastic rounding); dictionary at 1-8 bits (uniform and non-uniform init, global with per-layer scale and per-layer); training and inference phase; training with compact weights only (training.master "compact") for stochastic fixed point and the global dictionary; a float32 baseline per seed.',
  },
  small: {
    defaultDataset: 'fashion-mnist',
    training: { epochs: SMALL.epochs, trainLimit: SMALL.trainLimit, testLimit: SMALL.testLimit },
    representation: [
      { kind: 'fixed', bits: SMALL.fixedBits, range: 'pow2', rounding: ['nearest', 'stochastic'] },
      { kind: 'dictionary', bits: SMALL.dictionaryBits, init: ['uniform', 'nonuniform'], scope: 'global' },
    ],
    seeds: SEEDS,
    epochBudget: `${SMALL.epochs} epochs on ${SMALL.trainLimit} training images (test on ${SMALL.testLimit}) per training-phase run (compact-master runs included); inference-phase runs only evaluate. The float32-master runs took about 18 minutes a seed with two worker processes on 2 cores (53 minutes for seeds 1-3, measured); the compact-master runs come on top (--seeds 1 for one seed)`,
    description:
      'The paper grid at a budget one 2-core machine runs within a session: seeds 1, 2, 3, a training subset, Q-format fixed point at 2/4/6/8 bits (nearest and stochastic), global dictionary at 1/2/4/8 bits (uniform and non-uniform), both phases, and the stochastic fixed point and global dictionaries trained again with compact weights only.',
  },
};

/** The grid a preset request stands for: its base config (with the overrides applied) and what varies. */
export function presetGrid(req: PresetSweepRequest): Grid {
  const shape = PAPER[req.budget];
  return {
    name: req.name ?? `paper-${req.budget}`,
    base: paperBase(req, `paper-${req.budget}`),
    vary: { representation: shape.representation, phase: ['training', 'inference'], seeds: req.seeds ?? shape.seeds, [MASTER]: MASTERS },
    compactMasterFor: (r) => r.kind === 'fixed' || (r.kind === 'dictionary' && r.scope === 'global'),
  };
}

/** The paper's recipe at a budget with a request's overrides applied: the base config of every preset at that budget. */
export function paperBase(req: PresetSweepRequest, defaultName: string): ExperimentConfig {
  const shape = PAPER[req.budget];
  const o = req.base;
  const dataset = o.dataset ?? shape.defaultDataset;
  const input: ExperimentConfigInput = {
    name: o.name ?? req.name ?? defaultName,
    dataset,
    model: o.model ?? 'cnn5',
    quantizeBiases: o.quantizeBiases,
    priority: o.priority,
    keep: o.keep,
    training: {
      batchSize: 100,
      learningRate: 0.01,
      momentum: 0.9,
      weightDecay: 5e-4,
      schedule: 'cosine',
      augment: dataset === 'cifar10',
      ...shape.training,
      ...stripUndefined(o.training ?? {}),
    },
  };
  return ExperimentConfig.parse(stripUndefined(input));
}

/** The seeds a preset runs at a budget when the request names none. */
export const presetSeeds = (budget: 'full' | 'small'): number[] => PAPER[budget].seeds;

/** What GET /presets says of the paper preset at a budget: its description and the epochs a run trains. */
export function paperText(budget: 'full' | 'small'): { description: string; epochBudget: string } {
  return { description: PAPER[budget].description, epochBudget: PAPER[budget].epochBudget };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
