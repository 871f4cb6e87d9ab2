import type { TrainingConfig } from '@quantlab/shared';

/**
 * The learning rate of one step. constant; step: lr * gamma^floor(epoch / lrStepEpochs); cosine: decays per step
 * from lr to 0 over the whole run. A pure function of the position, so a resumed run follows the same schedule.
 */
export function learningRateAt(t: TrainingConfig, epoch: number, step: number, stepsPerEpoch: number): number {
  switch (t.schedule) {
    case 'constant':
      return t.learningRate;
    case 'step':
      return t.learningRate * t.lrGamma ** Math.floor(epoch / t.lrStepEpochs);
    case 'cosine': {
      const progress = (epoch * stepsPerEpoch + step) / (t.epochs * stepsPerEpoch);
      return 0.5 * t.learningRate * (1 + Math.cos(Math.PI * progress));
    }
  }
}
