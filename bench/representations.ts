/**
 * Quantize + pack 1,000,000 weights for each representation (issue 3's targets on one core: fixed point < 50 ms,
 * an 8-bit dictionary including its fit < 200 ms). Run: node --import tsx bench/representations.ts [weights] [repeats]
 */
import { Representation } from '@quantlab/shared';
import { decodeArtifact } from '../services/ml/src/artifact/index.ts';
import { Rng } from '../services/ml/src/random.ts';
import { createQuantizer, type LayerWeights } from '../services/ml/src/representations/index.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const repeats = Number(process.argv[3] ?? 5);

/** Trained-looking weights: Gaussian per layer with a layer-specific spread and a few heavier-tailed outliers. */
function syntheticLayers(n: number, seed: number): LayerWeights[] {
  const rng = new Rng(seed);
  const shares = [0.02, 0.25, 0.5, 0.22, 0.01];
  const sigmas = [0.12, 0.03, 0.02, 0.04, 0.15];
  let left = n;
  return shares.map((share, i) => {
    const count = i === shares.length - 1 ? left : Math.round(n * share);
    left -= count;
    const values = new Float32Array(count);
    for (let k = 0; k < count; k++) values[k] = sigmas[i] * rng.normal() * (rng.next() < 0.01 ? 3 : 1);
    return { name: `layer${i}`, shape: [count], values };
  });
}

const cases: [string, unknown][] = [
  ['float32', { kind: 'float32' }],
  ['fixed:8 maxabs nearest', { kind: 'fixed', bits: 8 }],
  ['fixed:8 maxabs stochastic', { kind: 'fixed', bits: 8, rounding: 'stochastic' }],
  ['fixed:8 pow2 nearest', { kind: 'fixed', bits: 8, range: 'pow2' }],
  ['fixed:4 maxabs nearest', { kind: 'fixed', bits: 4 }],
  ['dictionary:8 global uniform', { kind: 'dictionary', bits: 8 }],
  ['dictionary:8 global nonuniform', { kind: 'dictionary', bits: 8, init: 'nonuniform' }],
  ['dictionary:8 global nonuniform refine 5', { kind: 'dictionary', bits: 8, init: 'nonuniform', refine: 5 }],
  ['dictionary:8 per-layer uniform', { kind: 'dictionary', bits: 8, scope: 'per-layer' }],
  ['dictionary:4 global uniform', { kind: 'dictionary', bits: 4 }],
];

const layers = syntheticLayers(total, 7);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const min = (a: number[]) => Math.min(...a);

interface Timings {
  fit: number[];
  apply: number[];
  pack: number[];
  total: number[];
  bytes: number;
  sqnr: number | null;
}
const timings: Timings[] = cases.map(() => ({ fit: [], apply: [], pack: [], total: [], bytes: 0, sqnr: null }));
const yardstick: number[] = [];
const out = layers.map((l) => new Float32Array(l.values.length));
const all = new Float32Array(total);

// Round-robin over the representations, so that load from other processes spreads over all of them alike.
for (let r = 0; r < repeats + 1; r++) {
  {
    // A machine-speed yardstick measured in the same rounds: sorting the same 1M float32 values.
    let p = 0;
    for (const l of layers) all.set(l.values, (p += l.values.length) - l.values.length);
    const t = performance.now();
    all.sort();
    if (r > 0) yardstick.push(performance.now() - t);
  }
  cases.forEach(([, input], c) => {
    const repr = Representation.parse(input);
    const q = createQuantizer(repr);
    const t0 = performance.now();
    q.fit(layers);
    const t1 = performance.now();
    q.apply(layers, new Rng(r), out);
    const t2 = performance.now();
    const bytes = q.pack(layers, { meta: { bench: true } });
    const t3 = performance.now();
    const tm = timings[c];
    if (r === 0) {
      // Warm-up round; also a sanity check of the artifact.
      tm.sqnr = q.error(layers, out).sqnrDb;
      tm.bytes = bytes.length;
      if (decodeArtifact(bytes).layers.length !== layers.length) throw new Error('artifact lost layers');
      return;
    }
    tm.fit.push(t1 - t0);
    tm.apply.push(t2 - t1);
    tm.pack.push(t3 - t2);
    // What the target counts: fit + quantize + pack (pack quantizes again itself).
    tm.total.push(t1 - t0 + (t3 - t2));
  });
}

const ms = (a: number[]) => `${min(a).toFixed(1)} / ${median(a).toFixed(1)}`;
const rows = cases.map(([label], c) => {
  const tm = timings[c];
  return [label, ms(tm.fit), ms(tm.apply), ms(tm.pack), ms(tm.total), (tm.bytes / 1e6).toFixed(3), ((4 * total) / tm.bytes).toFixed(2), tm.sqnr === null ? '∞' : tm.sqnr.toFixed(1)];
});
const header = ['representation', 'fit ms', 'apply ms', 'pack ms', 'fit+pack ms', 'artifact MB', 'float32/artifact', 'SQNR dB'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
console.log(`${total.toLocaleString('en-US')} weights in 5 layers; times are min / median of ${repeats} rounds after one warm-up; node ${process.version}`);
console.log(`yardstick, Float32Array.prototype.sort of the same ${total.toLocaleString('en-US')} values: ${ms(yardstick)} ms`);
console.log(line(header));
console.log('|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
for (const r of rows) console.log(line(r));
