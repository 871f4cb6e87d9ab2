/**
 * Why 2-bit fixed point trained with stochastic rounding diverges (docs/REPRESENTATIONS.md): the energy the compact
 * weights carry, Σŵ² / Σw², and the share of it that is noise, for each kernel of cnn5 at its initialization, per
 * representation. A forward pass multiplies the activations' scale by about √(Σŵ²/Σw²) a layer.
 *   node --import tsx bench/stochastic-energy.ts [bits=2] [seed=1]
 */
import { Representation } from '@quantlab/shared';
import { buildModel, initWeights } from '../services/ml/src/models/index.ts';
import { Rng } from '../services/ml/src/random.ts';
import { createQuantizer } from '../services/ml/src/representations/index.ts';

const bits = Number(process.argv[2] ?? 2);
const seed = Number(process.argv[3] ?? 1);
const model = buildModel('cnn5', [28, 28, 1], 10);
const weights = initWeights(model, new Rng(seed).fork());
const layers = model.params.flatMap((p, i) => (p.kind === 'kernel' ? [{ name: p.name, shape: p.shape, values: weights[i] }] : []));

const rows: string[] = [];
for (const [range, rounding] of [['maxabs', 'nearest'], ['maxabs', 'stochastic'], ['pow2', 'nearest'], ['pow2', 'stochastic'], ['mse', 'nearest'], ['mse', 'stochastic']] as const) {
  const q = createQuantizer(Representation.parse({ kind: 'fixed', bits, range, rounding }));
  q.fit(layers);
  const out = q.apply(layers, new Rng(7));
  const cells = layers.map((l, i) => {
    let w2 = 0;
    let q2 = 0;
    let e2 = 0;
    let max = 0;
    for (let j = 0; j < l.values.length; j++) {
      const w = l.values[j];
      w2 += w * w;
      q2 += out[i][j] ** 2;
      e2 += (out[i][j] - w) ** 2;
      max = Math.max(max, Math.abs(w));
    }
    const std = Math.sqrt(w2 / l.values.length);
    return `${(q2 / w2).toFixed(2)} / ${(e2 / w2).toFixed(2)} (max ${(max / std).toFixed(1)}σ)`;
  });
  const gain = layers.reduce((g, l, i) => {
    let w2 = 0;
    let q2 = 0;
    for (let j = 0; j < l.values.length; j++) {
      w2 += l.values[j] ** 2;
      q2 += out[i][j] ** 2;
    }
    return g * Math.sqrt(q2 / w2);
  }, 1);
  rows.push(`| ${range} ${rounding} | ${cells.join(' | ')} | ${gain.toFixed(1)}× |`);
}
console.log(`fixed point at ${bits} bits on cnn5's initial kernels (seed ${seed}): Σŵ²/Σw² / Σ(ŵ−w)²/Σw² per layer, and the product of √(Σŵ²/Σw²) over the 5 layers`);
console.log(`| range, rounding | ${layers.map((l) => l.name).join(' | ')} | scale gain |`);
console.log(`|---|${layers.map(() => '---:').join('|')}|---:|`);
for (const r of rows) console.log(r);
