import type { ExperimentConfig } from '../schemas/experiment.ts';
import type { StoppingRule } from '../schemas/run.ts';
import type { Representation } from '../schemas/representation.ts';
import type { SweepSearch, SweepVary } from '../schemas/sweep.ts';

/**
 * A sweep reduced to its essentials: the effective base config, what varies, how it is searched (a grid unless said
 * otherwise) and its early-stopping rule (presets build one, expand reads it).
 */
export interface Grid {
  name: string;
  base: ExperimentConfig;
  vary: SweepVary;
  search?: SweepSearch;
  stopping?: StoppingRule | null;
  /** The phases each `vary.representation` entry runs in (presets only; all of `vary.phase` when absent). */
  entryPhases?: (readonly ('training' | 'inference')[])[];
  /**
   * Where a varied training.master "compact" runs (besides where it applies at all): presets name their compact
   * series with it. Absent: wherever it applies.
   */
  compactMasterFor?: (representation: Representation) => boolean;
}
