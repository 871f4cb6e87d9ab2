/**
 * Bits per layer from a sensitivity sweep (preset "sensitivity"): the widths that meet a target relative accuracy,
 * judged on the lower end of the 95% t-interval over seeds, with the fewest weight bytes.
 *
 * The model: layer l at width b costs the accuracy its one-layer run lost, d_l(b) = max(0, 1 − relative accuracy)
 * per seed (a run above its baseline gained by noise, and a gain must not pay for another layer's loss), and the
 * losses of several layers add up: for seed s the allocation is predicted at 1 − Σ_l d_l,s(b_l). The
 * prediction's interval over seeds is the t-interval of those per-seed values (one seed: the value itself), and
 * an allocation is feasible when its lower end is at least the target.
 *
 * Greedy: start from every layer in float32 (predicted 1, no loss); repeatedly make the move, narrowing one layer to
 * any narrower measured width, that saves the most bytes per point of predicted mean loss among the moves that stay
 * feasible (a move that loses nothing saves bytes for free and goes first); stop when no move is feasible. Then the
 * cap: if the result is not smaller than the best uniform width (the narrowest width every layer can take together
 * that meets the target — narrowestPassing in sweeps/kept.ts: that configuration's own lower end decides, a noisier
 * wider width does not veto it — measured by the sweep's uniform runs where it has them, predicted otherwise), that uniform
 * allocation is the answer, so an allocation never costs more than the best uniform width.
 */
import { builtInLayers } from '../schemas/model-layers.ts';
import { FINAL_STATUSES, type RunDocument } from '../schemas/run.ts';
import type { SweepSummaryRow } from '../schemas/sweep.ts';
import { keptLevel, narrowestPassing } from './kept.ts';
import { meanInterval95 } from './stats.ts';

/** Bytes of one layer of `weights` values at `width` (32: float32) as the artifact stores them, one scale included. */
export function layerBytes(kind: 'fixed' | 'dictionary', weights: number, width: number): number {
  if (width === 32) return 4 * weights;
  return Math.ceil((weights * width) / 8) + 8 + (kind === 'dictionary' ? 4 * 2 ** width : 0);
}

export interface SensitivityLayer {
  name: string;
  /** Weights of the layer (its kernel). */
  weights: number;
  /** width → seed → relative accuracy of the run quantizing only this layer at that width. */
  relative: ReadonlyMap<number, ReadonlyMap<number, number>>;
}

export interface AllocationInput {
  kind: 'fixed' | 'dictionary';
  layers: readonly SensitivityLayer[];
  seeds: readonly number[];
  target: number;
  /** The uniform series as measured (every layer at `width`): the lower end its runs reached (interval or one seed). */
  uniform?: readonly { width: number; low: number }[];
}

export interface Allocation {
  /** Width by layer (32: float32). */
  widths: Record<string, number>;
  bytes: number;
  /** The predicted relative accuracy: mean over seeds and the lower end judged. */
  predicted: { mean: number; low: number };
  /** The narrowest uniform width that meets the target, its bytes and how it was judged; null when none does. */
  bestUniform: { width: number; bytes: number; judged: 'measured' | 'predicted' } | null;
  /** True when the greedy allocation was not smaller than the best uniform width, which is then the answer. */
  uniform: boolean;
}

export class AllocationError extends Error {}

export function allocateBits(input: AllocationInput): Allocation {
  const { layers, seeds, target, kind } = input;
  if (seeds.length === 0 || layers.length === 0) throw new AllocationError('the sensitivity table is empty: no completed one-layer runs');
  const bytesOf = (w: readonly number[]) => w.reduce((a, b, l) => a + layerBytes(kind, layers[l].weights, b), 0);
  // Widths measured for every seed, per layer, narrowest first; 32 is always there (no loss).
  const measured = layers.map((l) => [...l.relative.entries()].filter(([, bySeed]) => seeds.every((s) => bySeed.has(s))).map(([w]) => w).sort((a, b) => a - b));
  const loss = (l: number, width: number, seed: number) => (width === 32 ? 0 : Math.max(0, 1 - layers[l].relative.get(width)!.get(seed)!));
  const predict = (widths: readonly number[]) => {
    const perSeed = seeds.map((s) => 1 - widths.reduce((a, w, l) => a + loss(l, w, s), 0));
    const mean = perSeed.reduce((a, b) => a + b, 0) / perSeed.length;
    return { mean, low: meanInterval95(perSeed)?.[0] ?? mean };
  };

  const widths = layers.map(() => 32);
  let current = predict(widths);
  for (;;) {
    let best: { l: number; w: number; saved: number; cost: number; p: { mean: number; low: number } } | null = null;
    for (let l = 0; l < layers.length; l++) {
      for (const w of measured[l]) {
        if (w >= widths[l]) continue;
        const trial = widths.slice();
        trial[l] = w;
        const p = predict(trial);
        if (!(p.low >= target)) continue;
        const saved = layerBytes(kind, layers[l].weights, widths[l]) - layerBytes(kind, layers[l].weights, w);
        const cost = current.mean - p.mean;
        // Free moves (no predicted loss) first, largest saving first; then the most bytes per point of loss.
        const better = !best || (cost <= 0 ? best.cost > 0 || saved > best.saved : best.cost > 0 && saved / cost > best.saved / best.cost);
        if (better) best = { l, w, saved, cost, p };
      }
    }
    if (!best) break;
    widths[best.l] = best.w;
    current = best.p;
  }

  const bestUniform = uniformCap(input, measured, predict, bytesOf);
  const named = (w: readonly number[]) => Object.fromEntries(layers.map((l, i) => [l.name, w[i]]));
  if (bestUniform && bytesOf(widths) >= bestUniform.bytes) {
    const w = layers.map(() => bestUniform.width);
    return { widths: named(w), bytes: bestUniform.bytes, predicted: predict(w), bestUniform, uniform: true };
  }
  if (widths.every((w) => w === 32)) {
    throw new AllocationError(
      `no layer can be quantized at the widths measured while the predicted relative accuracy keeps ${target} on the lower end of its interval (${current.low.toFixed(4)} with every layer in float32)`,
    );
  }
  return { widths: named(widths), bytes: bytesOf(widths), predicted: current, bestUniform, uniform: false };
}

/** The narrowest uniform width meeting the target (narrowestPassing): by the sweep's uniform runs where measured, else by prediction. */
function uniformCap(
  input: AllocationInput,
  measured: number[][],
  predict: (w: readonly number[]) => { mean: number; low: number },
  bytesOf: (w: readonly number[]) => number,
): Allocation['bestUniform'] {
  const n = input.layers.length;
  const candidates = [...new Set([...(input.uniform ?? []).map((u) => u.width), ...measured.flat().filter((w) => measured.every((m) => m.includes(w)))])].sort((a, b) => a - b);
  const uniformOf = (width: number) => Array.from({ length: n }, () => width);
  const levels = candidates
    .filter((width) => width !== 32)
    .map((width) => ({ width, level: input.uniform?.find((u) => u.width === width)?.low ?? predict(uniformOf(width)).low }));
  const width = narrowestPassing(levels, input.target);
  if (width === null) return null;
  return { width, bytes: bytesOf(uniformOf(width)), judged: input.uniform?.some((u) => u.width === width) ? 'measured' : 'predicted' };
}

/** A one-layer (sensitivity) series: `<family>/<phase>/layer:<name>`. */
const LAYER_SERIES = /^(.*)\/(training|inference)\/layer:(.+)$/;

export interface SensitivitySource {
  /** The representation family, e.g. `fixed/pow2/nearest` (series without phase and layer). */
  family: string;
  /** The representation of the one-layer runs without its widths (bits and bitsPerLayer). */
  representation: Record<string, unknown>;
  kind: 'fixed' | 'dictionary';
  layers: SensitivityLayer[];
  seeds: number[];
  /** The family's training-phase uniform series: lower end judged per width. */
  uniform: { width: number; low: number }[];
  /** A completed one-layer run of each seed: its config is the allocated run's, with the allocated widths. */
  configOfSeed: Map<number, RunDocument>;
  /** One-layer and uniform runs of the family that have not ended yet. */
  unfinished: number;
}

/**
 * The sensitivity table of a sweep's runs: relative accuracy per layer, width and seed from the completed one-layer
 * runs (inference phase; a training-phase run of the same layer and width replaces it, since the allocated run
 * trains), layer sizes from their weight-error reports. Throws AllocationError when the sweep has no one-layer series,
 * or one-layer series of more than one representation.
 */
export function sensitivityFromRuns(runs: readonly RunDocument[], summary: readonly SweepSummaryRow[]): SensitivitySource {
  const oneLayer = runs.flatMap((r) => {
    const m = LAYER_SERIES.exec(r.series);
    return m && r.config.representation.kind !== 'float32' ? [{ run: r, family: m[1], phase: m[2] as 'training' | 'inference', layer: m[3] }] : [];
  });
  const families = [...new Set(oneLayer.map((o) => o.family))];
  if (families.length === 0) {
    throw new AllocationError('the sweep has no sensitivity series (runs quantizing one layer at a time); create one with {"preset": "sensitivity"}');
  }
  if (families.length > 1) throw new AllocationError(`the sweep has sensitivity series of ${families.length} representations (${families.join(', ')}); allocation needs one`);
  const family = families[0];
  const sample = oneLayer[0].run.config.representation as Record<string, unknown> & { kind: 'fixed' | 'dictionary' };
  const { bits: _b, bitsPerLayer: _p, ...representation } = sample;
  const model = oneLayer[0].run.config.model;
  const names = builtInLayers(model);
  if (!names) throw new AllocationError(`allocation names the layers of a built-in model; ${model} is an uploaded model`);
  const relative = new Map(names.map((n) => [n, new Map<number, Map<number, number>>()]));
  const weights = new Map<string, number>();
  const configOfSeed = new Map<number, RunDocument>();
  // Inference first, then training: a training-phase measurement of the same cell replaces the inference one.
  const done = oneLayer.filter((o) => o.run.status === 'completed' && typeof o.run.metrics.relativeAccuracy === 'number');
  for (const o of [...done.filter((d) => d.phase === 'inference'), ...done.filter((d) => d.phase === 'training')]) {
    const bits = (o.run.config.representation as { bits: number }).bits;
    const byWidth = relative.get(o.layer);
    if (!byWidth) continue;
    if (!byWidth.has(bits)) byWidth.set(bits, new Map());
    byWidth.get(bits)!.set(o.run.config.training.seed, o.run.metrics.relativeAccuracy!);
    const count = o.run.metrics.weightError?.layers.find((l) => l.name === `${o.layer}/kernel`)?.count;
    if (count !== undefined) weights.set(o.layer, count);
    configOfSeed.set(o.run.config.training.seed, o.run);
  }
  const missing = names.filter((n) => !weights.has(n));
  if (done.length > 0 && missing.length > 0) throw new AllocationError(`no completed one-layer run reports the size of layer(s) ${missing.join(', ')}`);
  const uniformSeries = `${family}/training`;
  const unfinished = runs.filter((r) => (oneLayer.some((o) => o.run === r) || r.series === uniformSeries) && !FINAL_STATUSES.includes(r.status)).length;
  const uniform = summary
    .filter((row) => row.series === uniformSeries && row.relativeAccuracy.mean !== null)
    .map((row) => ({ width: row.bits, low: keptLevel(row.relativeAccuracy)! }));
  return {
    family,
    representation,
    kind: sample.kind,
    layers: names.map((name) => ({ name, weights: weights.get(name) ?? 0, relative: relative.get(name)! })),
    seeds: [...configOfSeed.keys()].sort((a, b) => a - b),
    uniform,
    configOfSeed,
    unfinished,
  };
}

/** The representation of an allocation: uniform widths as plain `bits`, mixed ones as bitsPerLayer over every layer. */
export function allocatedRepresentation(source: Pick<SensitivitySource, 'representation'>, allocation: Pick<Allocation, 'widths'>): Record<string, unknown> {
  const widths = Object.values(allocation.widths);
  const quantized = widths.filter((w) => w !== 32);
  const bits = quantized.length ? Math.max(...quantized) : 32;
  if (widths.every((w) => w === widths[0])) return { ...source.representation, bits };
  return { ...source.representation, bits, bitsPerLayer: { ...allocation.widths } };
}
