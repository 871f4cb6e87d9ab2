/**
 * Learned dictionaries (update "gradient"). Between refits, SGD trains a dictionary's entries and scales by the
 * loss's gradient g_j with respect to each decoded weight ŵ_j = E[c_j]·s_u(j) (the gradient the forward pass gives):
 *   ∂L/∂E[k] = Σ_{j: c_j = k} g_j·s_u(j)     the sum over the entry's cluster, in every layer sharing the dictionary
 *   ∂L/∂s_u  = Σ_{j in unit u} g_j·E[c_j]
 * Each parameter's step divides its summed gradient by Σ(∂ŵ_j/∂θ)² over the weights using it (count·s² for an
 * entry, ΣE[c_j]² for a scale): the least-squares projection of the SGD step those decoded weights would take, so a
 * parameter moves as its weights move on average, with the run's learning rate and momentum and no weight decay.
 * The raw sum (Han et al.'s centroid fine-tuning) grows with the cluster: at the weights' learning rate it collapsed
 * cnn5's scales within an epoch and ended at chance (fashion-mnist, 1 and 2 bits). The codes are the forward pass's:
 * nearest entry of the master weights, which have not moved yet when `step` runs. The master weights keep training by the straight-through estimator, so codes
 * may change from step to step. Entries are kept here in float64 and handed to the quantizer rounded to float32
 * (what the artifact stores) and sorted (encoding searches the midpoints); a per-layer dictionary with layer
 * granularity has no scale (1), so only its entries train.
 */
import type { DictionaryQuantizer } from './dictionary.ts';
import { midpoints } from './dictionary-fit.ts';
import type { LayerWeights } from './types.ts';
import type { LayerWidth } from './widths.ts';

/** What a checkpoint keeps of a learned dictionary (JSON numbers: float64 round-trips exactly). */
export interface DictionaryLearnerState {
  entries: number[][];
  entryVelocity: number[][];
  scales: number[][];
  scaleVelocity: number[][];
  widths: LayerWidth[];
}

export class DictionaryLearner {
  private entries: Float64Array[] = [];
  private entryVelocity: Float64Array[] = [];
  private scaleVelocity: Float64Array[] = [];
  private readonly trainsScales: boolean;

  constructor(private readonly quantizer: DictionaryQuantizer) {
    const r = quantizer.representation;
    this.trainsScales = !(r.scope === 'per-layer' && r.granularity === 'layer');
  }

  /** Starts from the quantizer's current fit (call after every refit): float64 masters of its entries, no momentum. */
  reset(): void {
    const { dictionaries, scales } = this.quantizer.parameters();
    this.entries = dictionaries.map((d) => Float64Array.from(d));
    this.entryVelocity = dictionaries.map((d) => new Float64Array(d.length));
    this.scaleVelocity = scales.map((s) => new Float64Array(s.length));
  }

  /**
   * One SGD step on entries and scales. `grads[i]` is ∂L/∂ŵ of layer i (the layers the quantizer was applied to,
   * in order); null skips a layer.
   */
  step(layers: readonly LayerWeights[], grads: readonly (Float32Array | null)[], opts: { lr: number; momentum: number }): void {
    if (this.entries.length === 0) this.reset();
    const { dictionaries, scales } = this.quantizer.parameters();
    const entryGrads = this.entries.map((e) => new Float64Array(e.length));
    const entryNorms = this.entries.map((e) => new Float64Array(e.length));
    const scaleGrads = scales.map((s) => new Float64Array(s.length));
    const scaleNorms = scales.map((s) => new Float64Array(s.length));
    for (let i = 0; i < layers.length; i++) {
      const d = this.quantizer.dictionaryOf(i);
      const g = grads[i];
      if (d < 0 || !g) continue;
      const entries = dictionaries[d];
      const mids = midpoints(entries);
      const half = entries.length >>> 1;
      const src = layers[i].values;
      const s = scales[i];
      const units = s.length;
      const ge = entryGrads[d];
      const ne = entryNorms[d];
      const gs = scaleGrads[i];
      const ns = scaleNorms[i];
      for (let j = 0, u = 0; j < src.length; j++) {
        const scale = s[u];
        // The forward pass's code: the same search as quantizeDictionary (ties to the lower entry).
        const x = src[j] / scale;
        let c = 0;
        for (let h = half; h > 0; h >>>= 1) if (x > mids[c + h - 1]) c += h;
        ge[c] += g[j] * scale;
        ne[c] += scale * scale;
        gs[u] += g[j] * entries[c];
        ns[u] += entries[c] * entries[c];
        if (++u === units) u = 0;
      }
    }
    const { lr, momentum } = opts;
    const newDicts = this.entries.map((e, d) => {
      const v = this.entryVelocity[d];
      for (let k = 0; k < e.length; k++) {
        const n = entryNorms[d][k];
        v[k] = momentum * v[k] + (n > 0 ? entryGrads[d][k] / n : 0);
        e[k] -= lr * v[k];
      }
      sortTogether(e, v);
      return Float32Array.from(e);
    });
    if (this.trainsScales) {
      scales.forEach((s, i) => {
        if (this.quantizer.dictionaryOf(i) < 0) return;
        const v = this.scaleVelocity[i];
        for (let u = 0; u < s.length; u++) {
          const n = scaleNorms[i][u];
          v[u] = momentum * v[u] + (n > 0 ? scaleGrads[i][u] / n : 0);
          // A scale cannot reach zero or flip sign (every weight of the unit would decode to 0 or mirror): a step
          // that would take it below half its value stops there.
          s[u] = Math.max(s[u] - lr * v[u], s[u] / 2);
        }
      });
    }
    this.quantizer.setParameters(newDicts, scales);
  }

  state(): DictionaryLearnerState {
    const { scales } = this.quantizer.parameters();
    return {
      entries: this.entries.map((e) => Array.from(e)),
      entryVelocity: this.entryVelocity.map((v) => Array.from(v)),
      scales: scales.map((s) => Array.from(s)),
      scaleVelocity: this.scaleVelocity.map((v) => Array.from(v)),
      widths: [...this.quantizer.widths],
    };
  }

  /** Puts a checkpoint's learned dictionary back, in the learner and the quantizer. */
  restore(s: DictionaryLearnerState): void {
    this.entries = s.entries.map((e) => Float64Array.from(e));
    this.entryVelocity = s.entryVelocity.map((v) => Float64Array.from(v));
    this.scaleVelocity = s.scaleVelocity.map((v) => Float64Array.from(v));
    this.quantizer.setParameters(
      this.entries.map((e) => Float32Array.from(e)),
      s.scales.map((x) => Float64Array.from(x)),
      s.widths,
    );
  }
}

/** Sorts `keys` ascending and applies the same permutation to `values` (an insertion sort: entries are nearly sorted). */
function sortTogether(keys: Float64Array, values: Float64Array): void {
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    const v = values[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > k) {
      keys[j + 1] = keys[j];
      values[j + 1] = values[j];
      j--;
    }
    keys[j + 1] = k;
    values[j + 1] = v;
  }
}
