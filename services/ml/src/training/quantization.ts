/** The bridge between the training loop and the representations module. */
import type { ExperimentConfig } from '@quantlab/shared';
import type { WeightQuantizer } from '../representations/types.ts';
import { RunInputError } from './types.ts';

/** The quantizer of a config's representation; null for float32 in the training loop (weights used as they are). */
export function quantizerFor(config: ExperimentConfig): WeightQuantizer | null {
  if (config.representation.kind === 'float32') return null;
  throw new RunInputError(`representation "${config.representation.kind}" is not available in this build yet`);
}
