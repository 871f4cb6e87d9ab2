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
const rows: string[][] = [];
for (const [label, input] of cases) {
  const repr = Representation.parse(input);
  const fitT: number[] = [];
  const applyT: number[] = [];
  const packT: number[] = [];
  const allT: number[] = [];
  let bytes: Uint8Array = new Uint8Array(0);
  let sqnr: number | null = null;
  const out = layers.map((l) => new Float32Array(l.values.length));
  for (let r = 0; r < repeats + 1; r++) {
    const q = createQuantizer(repr);
    const t0 = performance.now();
    q.fit(layers);
    const t1 = performance.now();
    q.apply(layers, new Rng(r), out);
    const t2 = performance.now();
    bytes = q.pack(layers, new Rng(r), { meta: { bench: true } });
    const t3 = performance.now();
    if (r === 0) {
      sqnr = q.error(layers, out).sqnrDb; // warm-up round, also a sanity check of the artifact
      const decoded = decodeArtifact(bytes);
      if (decoded.layers.length !== layers.length) throw new Error('artifact lost layers');
      continue;
    }
    fitT.push(t1 - t0);
    applyT.push(t2 - t1);
    packT.push(t3 - t2);
    // What the target counts: fit + quantize + pack (pack encodes again, so apply is not part of it).
    allT.push(t1 - t0 + (t3 - t2));
  }
  rows.push([
    label,
    median(fitT).toFixed(1),
    median(applyT).toFixed(1),
    median(packT).toFixed(1),
    median(allT).toFixed(1),
    (bytes.length / 1e6).toFixed(3),
    ((4 * total) / bytes.length).toFixed(2),
    sqnr === null ? '∞' : sqnr.toFixed(1),
  ]);
}

const header = ['representation', 'fit ms', 'apply ms', 'pack ms', 'fit+pack ms', 'artifact MB', 'float32/artifact', 'SQNR dB'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
console.log(`${total.toLocaleString('en-US')} weights, median of ${repeats} runs (after one warm-up), node ${process.version}`);
console.log(line(header));
console.log('|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
for (const r of rows) console.log(line(r));
