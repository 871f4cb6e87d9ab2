import type { ExperimentConfig } from '../schemas/experiment.ts';
import type { SweepVary } from '../schemas/sweep.ts';

/** A sweep reduced to its essentials: the effective base config and what varies (presets build one, expand reads it). */
export interface Grid {
  name: string;
  base: ExperimentConfig;
  vary: SweepVary;
}
