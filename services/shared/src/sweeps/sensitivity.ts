/**
 * The `sensitivity` preset: how much each layer loses when it alone is quantized, at each width, to allocate bits per
 * layer (sweeps/allocate.ts, POST /sweeps/:id/allocate). At the paper's recipe and budgets (presets.ts), for each seed:
 * - the float32 baseline;
 * - every layer at each width in both phases (the uniform series the allocation is compared with);
 * - one layer at a time at each width, the other layers float32 (bitsPerLayer 32): inference phase, which quantizes
 *   the seed's baseline weights and only evaluates (cheap: one evaluation a run);
 * - the same one-layer runs in the training phase at `trainWidths` only (each trains the whole budget): the
 *   training phase is triggered by naming widths there, none by default.
 * The representation family is fixed point (Q-format, round to nearest) unless `representation` names another; a
 * dictionary is per-layer (one width a layer needs one dictionary a layer).
 */
import { builtInLayers } from '../schemas/model-layers.ts';
import type { PresetSweepRequest, RepresentationPattern } from '../schemas/sweep.ts';
import type { Grid } from './grid.ts';
import { paperBase, presetSeeds } from './presets.ts';

/** What GET /presets says of the sensitivity preset (its grid comes from sensitivityGrid). */
export const SENSITIVITY_DESCRIPTION =
  'Per-layer sensitivity for bits per layer: for each seed, the float32 baseline; every layer together at each width in both phases (the uniform series); and one layer at a time at each width with every other layer float32 (inference phase: quantizes the baseline and only evaluates; `trainWidths` adds training-phase one-layer runs). Q-format fixed point with round to nearest unless `representation` names another family (a dictionary is per-layer); `widths` sets the widths. POST /sweeps/:id/allocate {target} then chooses a width per layer from it. Built-in models only.';

export const SENSITIVITY_WIDTHS = { fixed: [2, 3, 4, 5, 6, 8], dictionary: [1, 2, 3, 4, 5, 6] } as const;

export function sensitivityGrid(req: PresetSweepRequest): Grid {
  const name = req.name ?? `sensitivity-${req.budget}`;
  const base = paperBase(req, name);
  const family: RepresentationPattern = { ...(req.representation ?? { kind: 'fixed', range: 'pow2', rounding: 'nearest' }) } as RepresentationPattern;
  if (family.kind === 'dictionary') family.scope = 'per-layer';
  const kind = family.kind as 'fixed' | 'dictionary';
  const widths = req.widths ?? [...SENSITIVITY_WIDTHS[kind]];
  const layers = builtInLayers(base.model);
  // Refused at planning (expand.ts) with a 400; here only as the type's guard.
  if (!layers) throw new Error(`the sensitivity preset needs a built-in model, not ${base.model}`);
  // The tested layer takes `bits`; every other layer is named at 32 (float32).
  const others = (layer: string) => Object.fromEntries(layers.filter((l) => l !== layer).map((l) => [l, 32]));
  const representation: RepresentationPattern[] = [{ ...family, bits: widths }];
  const entryPhases: ('training' | 'inference')[][] = [['training', 'inference']];
  for (const layer of layers) {
    representation.push({ ...family, bits: widths, bitsPerLayer: others(layer) });
    entryPhases.push(['inference']);
    if (req.trainWidths?.length) {
      representation.push({ ...family, bits: req.trainWidths, bitsPerLayer: others(layer) });
      entryPhases.push(['training']);
    }
  }
  return { name, base, vary: { representation, phase: ['training', 'inference'], seeds: req.seeds ?? presetSeeds(req.budget) }, entryPhases };
}
