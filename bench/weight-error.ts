/**
 * Approximation error against bits for a trained model's weights: quantizes the kernels of a float32 artifact
 * (`quantlab train --repr float32 --artifact FILE`) with each representation at each bit width and prints SQNR and
 * MSE tables (Markdown). Biases stay float32, as in training.
 * With --accuracy, also the test accuracy of the model with its kernels quantized once (post-training, the
 * inference phase) for a few representations and bit widths, evaluated from the packed artifacts themselves.
 *   node --import tsx bench/weight-error.ts model.qlab [--json] [--accuracy]
 */
import { readFileSync } from 'node:fs';
import { Representation } from '@quantlab/shared';
import { decodeArtifact } from '../services/ml/src/artifact/index.ts';
import { Rng } from '../services/ml/src/random.ts';
import { createQuantizer, type LayerWeights } from '../services/ml/src/representations/index.ts';
import { evaluateArtifact, initBackend } from '@quantlab/ml';

const file = process.argv[2];
if (!file) {
  console.error('usage: node --import tsx bench/weight-error.ts ARTIFACT [--json]');
  process.exit(2);
}
const artifact = decodeArtifact(readFileSync(file));
if (artifact.representation.kind !== 'float32') console.error(`note: ${file} holds ${artifact.representation.kind} weights; they are quantized again as they are`);
const isKernel = (l: LayerWeights) => !/bias/i.test(l.name) && l.shape.length >= 2;
const kernels: LayerWeights[] = artifact.layers.filter(isKernel);
const others: LayerWeights[] = artifact.layers.filter((l) => !isKernel(l));
const count = kernels.reduce((a, l) => a + l.values.length, 0);

const series: { label: string; bits: number[]; repr: (bits: number) => unknown }[] = [
  { label: 'fixed maxabs', bits: range(2, 16), repr: (bits) => ({ kind: 'fixed', bits }) },
  { label: 'fixed pow2', bits: range(2, 16), repr: (bits) => ({ kind: 'fixed', bits, range: 'pow2' }) },
  { label: 'fixed maxabs stochastic', bits: range(2, 16), repr: (bits) => ({ kind: 'fixed', bits, rounding: 'stochastic' }) },
  { label: 'dict global uniform', bits: range(1, 10), repr: (bits) => ({ kind: 'dictionary', bits }) },
  { label: 'dict global nonuniform', bits: range(1, 10), repr: (bits) => ({ kind: 'dictionary', bits, init: 'nonuniform' }) },
  { label: 'dict global nonuniform r5', bits: range(1, 10), repr: (bits) => ({ kind: 'dictionary', bits, init: 'nonuniform', refine: 5 }) },
  { label: 'dict per-layer uniform', bits: range(1, 10), repr: (bits) => ({ kind: 'dictionary', bits, scope: 'per-layer' }) },
  { label: 'dict per-layer nonuniform r5', bits: range(1, 10), repr: (bits) => ({ kind: 'dictionary', bits, scope: 'per-layer', init: 'nonuniform', refine: 5 }) },
];

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

type Cell = { sqnrDb: number | null; mse: number; extra: number | undefined };
const results = series.map((s) =>
  new Map(
    s.bits.map((bits): [number, Cell] => {
      const q = createQuantizer(Representation.parse(s.repr(bits)));
      q.fit(kernels);
      const e = q.error(kernels, q.apply(kernels, new Rng(1)));
      return [bits, { sqnrDb: e.sqnrDb, mse: e.mse, extra: e.saturated ?? e.unusedEntries }];
    }),
  ),
);

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ file, meta: artifact.meta, kernels: kernels.map((k) => ({ name: k.name, count: k.values.length })), series: series.map((s, i) => ({ label: s.label, cells: Object.fromEntries(results[i]) })) }));
} else {
  const allBits = range(1, 16);
  const table = (title: string, cell: (c: Cell) => string) => {
    console.log(`\n${title}\n`);
    console.log(`| bits | ${series.map((s) => s.label).join(' | ')} |`);
    console.log(`|---:|${series.map(() => '---:').join('|')}|`);
    for (const b of allBits) console.log(`| ${b} | ${results.map((r) => (r.has(b) ? cell(r.get(b)!) : '')).join(' | ')} |`);
  };
  console.log(`${file}: ${JSON.stringify(artifact.meta)}`);
  console.log(`kernels: ${kernels.map((k) => `${k.name} [${k.shape.join('×')}]`).join(', ')}; ${count.toLocaleString('en-US')} weights`);
  table('SQNR (dB) of the quantized kernels, all layers together', (c) => (c.sqnrDb === null ? '∞' : c.sqnrDb.toFixed(1)));
  table('MSE of the quantized kernels', (c) => c.mse.toExponential(2));
}

if (process.argv.includes('--accuracy')) {
  const backend = await initBackend((process.env.TFJS_BACKEND as 'auto' | undefined) ?? 'auto');
  const bitsShown = [1, 2, 3, 4, 5, 6, 8];
  const chosen = [0, 3, 5, 6].map((i) => series[i]);
  const base = await evaluateArtifact(readFileSync(file));
  console.log(`\nTest accuracy with the kernels quantized once (inference phase), ${base.test} test images, backend ${backend}; float32: ${(100 * base.testAccuracy).toFixed(2)}%\n`);
  console.log(`| bits | ${chosen.map((s) => s.label).join(' | ')} |`);
  console.log(`|---:|${chosen.map(() => '---:').join('|')}|`);
  for (const bits of bitsShown) {
    const cells: string[] = [];
    for (const s of chosen) {
      if (!s.bits.includes(bits)) {
        cells.push('');
        continue;
      }
      const q = createQuantizer(Representation.parse(s.repr(bits)));
      const bytes = q.pack(kernels, { float32: others, meta: artifact.meta });
      const r = await evaluateArtifact(bytes);
      cells.push(`${(100 * r.testAccuracy).toFixed(2)}%`);
    }
    console.log(`| ${bits} | ${cells.join(' | ')} |`);
  }
}
