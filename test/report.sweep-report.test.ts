import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { relativeAccuracyChart, smallestBitsKeeping, sweepReportMarkdown, type SweepForReport } from '../services/cli/src/report/sweep-report.ts';

const stat = (mean: number, spread = 0) => ({ mean, min: mean - spread, max: mean + spread });
const row = (series: string, bits: number, rel: number) => ({ series, bits, n: 2, testAccuracy: stat(0.9 * rel, 0.01), relativeAccuracy: stat(rel, 0.005), compactBytes: 1000 * bits, compressionRatio: 32 / bits });

const sweep: SweepForReport = {
  id: 'swp_test',
  name: 'unit sweep',
  status: 'completed',
  runs: [],
  summary: [
    { series: 'float32/training', bits: 32, n: 2, testAccuracy: stat(0.9, 0.01), relativeAccuracy: stat(1), compactBytes: 32000, compressionRatio: 1 },
    row('fixed/maxabs/nearest/training', 2, 0.5),
    row('fixed/maxabs/nearest/training', 4, 0.985),
    row('fixed/maxabs/nearest/training', 8, 0.995),
    row('dictionary/global/uniform/r0/epoch/training', 2, 0.9),
    row('dictionary/global/uniform/r0/epoch/training', 4, 0.999),
    row('dictionary/global/uniform/r0/epoch/training', 8, 0.97), // a dip above: 4 bits must not count as "keeps"
  ],
};

test('the fewest bits that keep a level count only when every larger width keeps it too', () => {
  const fixed = sweep.summary.filter((r) => r.series.startsWith('fixed/'));
  assert.equal(smallestBitsKeeping(fixed, 0.99), 8);
  assert.equal(smallestBitsKeeping(fixed, 0.98), 4);
  const dict = sweep.summary.filter((r) => r.series.startsWith('dictionary/'));
  assert.equal(smallestBitsKeeping(dict, 0.99), null);
  // The table says so, and names the narrower width that keeps the level on its own (as the allocator judges).
  const md = sweepReportMarkdown(sweep, { svgPath: 'f.svg' });
  assert.match(md, /\| `dictionary\/global\/uniform\/r0\/epoch\/training` \| not reached at the widths measured \(4 bits on its own; a wider width misses\) \| not reached at the widths measured \(4 bits on its own; a wider width misses\) \|/);
  assert.match(md, /\| `fixed\/maxabs\/nearest\/training` \| 8 bits \| 4 bits \|/);
});

test('with seeds, a width keeps a level only when the lower end of its 95% interval does', () => {
  // Mean 99.5% but the interval reaches down to 98.5%: it keeps 98%, not 99%.
  const r = { ...row('fixed/pow2/nearest/training', 8, 0.995), relativeAccuracy: { ...stat(0.995, 0.004), ci95: { low: 0.985, high: 1.005 } } };
  assert.equal(smallestBitsKeeping([r], 0.99), null);
  assert.equal(smallestBitsKeeping([r], 0.98), 8);
  const md = sweepReportMarkdown({ ...sweep, summary: [sweep.summary[0], r] }, { svgPath: 'f.svg' });
  assert.match(md, /\| `fixed\/pow2\/nearest\/training` \| not reached at the widths measured \| 8 bits \|/);
  // Judged on the interval: 98.50% < 99%.
  assert.match(md, /fixed at 8 bits \(training phase\) ≥ 99%: 99\.50% \[98\.50%, 100\.50%\] .*lower end of the 95% interval 98\.50%\) — missed by 0\.5 points/);
  // Targets the sweep did not measure are not printed at all.
  assert.doesNotMatch(md, /dictionary at/);
  assert.doesNotMatch(md, /not measured/);
});

test('each run is listed with its binomial interval and its McNemar test against the baseline', () => {
  const seeds = [
    { runId: 'r1', seed: 1, testAccuracy: 0.85, test: 2000, binomial95: { low: 0.834, high: 0.865 }, relativeAccuracy: 0.99, mcnemar: { b: 30, c: 50, p: 0.0328 } },
    { runId: 'r2', seed: 2, testAccuracy: 0.86, test: 2000, binomial95: { low: 0.844, high: 0.874 }, relativeAccuracy: 1.0, mcnemar: null },
  ];
  const md = sweepReportMarkdown({ ...sweep, summary: [sweep.summary[0], { ...row('fixed/pow2/nearest/training', 4, 0.99), seeds }] }, { svgPath: 'f.svg' });
  assert.match(md, /## Each run against its baseline/);
  assert.match(md, /\| `fixed\/pow2\/nearest\/training` \| 4 \| 1 \| 85\.00% \[83\.40%, 86\.50%\] \| 99\.0% \| 30 \| 50 \| 0\.033 \|/);
  assert.match(md, /\| 2 \| 86\.00% \[84\.40%, 87\.40%\] \| 100\.0% \| – \| – \| – \|/);
});

test('the figure has one line per series, the 100% reference and every bit width as a tick', () => {
  const svg = relativeAccuracyChart(sweep);
  assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
  assert.match(svg, /float32 baseline \(100%\)/);
  for (const b of [2, 4, 8]) assert.match(svg, new RegExp(`>${b}</text>`));
});

test('the Markdown report states the targets with their verdicts and lists every row', () => {
  const md = sweepReportMarkdown(sweep, { svgPath: '/x/fig.svg' });
  assert.match(md, /!\[relative accuracy against bits\]\(fig\.svg\)/);
  assert.match(md, /fixed at 8 bits \(training phase\) ≥ 99%: 99\.50% \(one seed\) .* met/);
  assert.match(md, /dictionary at 8 bits \(training phase\) ≥ 99%: 97\.00% .* missed by 2\.0 points/);
  assert.match(md, /dictionary at 4 bits \(training phase\) ≥ 97%: 99\.90% .* met/);
  assert.equal((md.match(/^\| `/gm) ?? []).length, 2 + sweep.summary.length);
});

test('quantlab report --input writes the report and the figure, and refuses a missing id in one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ql-report-'));
  writeFileSync(join(dir, 'sweep.json'), JSON.stringify(sweep));
  const ok = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', 'report', '--input', join(dir, 'sweep.json'), '--out', join(dir, 'r.md')], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(readFileSync(join(dir, 'r.md'), 'utf8'), /# Bit-width study: unit sweep/);
  assert.match(readFileSync(join(dir, 'r.svg'), 'utf8'), /<svg/);
  const bad = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', 'report'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
});

test('compact bytes averaged over seeds print as whole bytes', () => {
  const md = sweepReportMarkdown({ ...sweep, summary: [{ ...row('fixed/pow2/nearest/training', 4, 0.99), compactBytes: 58796 / 3 }] }, { svgPath: 'f.svg' });
  const line = md.split('\n').find((l) => l.startsWith('| `fixed/pow2/nearest/training` | 4 |'));
  assert.ok(line, md);
  assert.equal(line.split('|')[7].trim(), '19599');
});

test('learned dictionaries are set against the refit ones per width, paired by seed', () => {
  const seedsOf = (rels: number[]) => rels.map((r, i) => ({ runId: `r${i}`, seed: i + 1, testAccuracy: 0.9 * r, test: 2000, binomial95: null, relativeAccuracy: r, mcnemar: null }));
  const withSeeds = (series: string, bits: number, rels: number[]) => ({ ...row(series, bits, rels.reduce((a, b) => a + b) / rels.length), seeds: seedsOf(rels) });
  const md = sweepReportMarkdown(
    {
      ...sweep,
      summary: [
        sweep.summary[0],
        withSeeds('dictionary/global/uniform/r0/epoch/training', 2, [0.9, 0.92, 0.91]),
        withSeeds('dictionary/global/uniform/r0/epoch:gradient/training', 2, [0.93, 0.94, 0.95]),
      ],
    },
    { svgPath: 'f.svg' },
  );
  assert.match(md, /## Learned against refit dictionaries/);
  // Differences 3, 2 and 4 points: mean 3, t-interval 3 ± 4.303·1/√3 = [0.52, 5.48].
  assert.match(md, /\| `dictionary\/global\/uniform\/r0\/epoch:gradient\/training` \| `dictionary\/global\/uniform\/r0\/epoch\/training` \| 2 \| 91\.0% .* \| 94\.0% .* \| \+3\.00 points \[\+0\.52, \+5\.48\] \|/);
});

test('a sensitivity sweep shows each layer at each width, and the allocation with its bytes against the best uniform width', () => {
  const ci = (mean: number, half: number) => ({ ...stat(mean, half), ci95: { low: mean - half, high: mean + half } });
  const r = (series: string, bits: number, mean: number, half: number, bytes: number) => ({ ...row(series, bits, mean), relativeAccuracy: ci(mean, half), compactBytes: bytes });
  const config = { model: 'mlp', dataset: 'mnist', representation: { kind: 'fixed', bits: 4 }, training: { epochs: 1, seed: 1 } };
  const allocatedRun = { series: 'fixed/pow2/nearest/training/bits:2.4', name: 'sens: allocated for 0.99 seed 1', config, metrics: {}, createdAt: '2026-11-30T00:00:00Z' };
  const oneLayer = { ...allocatedRun, series: 'fixed/pow2/nearest/inference/layer:fc1', name: 'x' };
  const md = sweepReportMarkdown(
    {
      ...sweep,
      runs: [oneLayer, allocatedRun] as unknown as SweepForReport['runs'],
      summary: [
        sweep.summary[0],
        r('fixed/pow2/nearest/inference/layer:fc1', 2, 0.993, 0.001, 30000),
        r('fixed/pow2/nearest/inference/layer:fc1', 4, 1.0, 0.001, 55000),
        r('fixed/pow2/nearest/inference/layer:fc2', 2, 0.94, 0.01, 400000),
        r('fixed/pow2/nearest/inference/layer:fc2', 4, 0.999, 0.001, 400500),
        r('fixed/pow2/nearest/training', 2, 0.95, 0.01, 25800),
        r('fixed/pow2/nearest/training', 4, 0.997, 0.002, 51500),
        r('fixed/pow2/nearest/training/bits:2.4', 4, 0.995, 0.002, 26400),
      ],
    },
    { svgPath: 'f.svg' },
  );
  assert.match(md, /## Per-layer sensitivity/);
  assert.match(md, /\| layer \| 2 bits \| 4 bits \|/);
  assert.match(md, /\| fc1 \| 99\.3% \[99\.2%, 99\.4%\] \| 100\.0% \[99\.9%, 100\.1%\] \|/);
  assert.match(md, /\| fc2 \| 94\.0% \[93\.0%, 95\.0%\] \| 99\.9% \[99\.8%, 100\.0%\] \|/);
  assert.match(md, /## Mixed precision against the best uniform width/);
  // Uniform 4 bits keeps 99.5% on its lower end (>= 0.99), 2 bits does not: 4 bits is the best uniform width.
  assert.match(md, /\| `fixed\/pow2\/nearest\/training\/bits:2\.4` \(target 0\.99\) \| fc1=2 fc2=4 \| 26400 \| 99\.5% \[99\.3%, 99\.7%\] \| 4 bits \| 51500 \| 99\.7% \[99\.5%, 99\.9%\] \| 48\.7% \|/);
  // The per-layer series stay out of the uniform tables and the chart.
  assert.doesNotMatch(md, /\| `fixed\/pow2\/nearest\/inference\/layer:fc1` \| not reached/);
});

test('the report sets float32-master against compact-only training per bit width, with training-state bytes and energy', () => {
  const ci = (mean: number) => ({ ...stat(mean, 0.01), ci95: { low: mean - 0.02, high: mean + 0.02 } });
  const costed = (series: string, bits: number, acc: number, state: number) => ({
    ...row(series, bits, acc / 0.9),
    testAccuracy: ci(acc),
    n: 3,
    trainingStateBytes: state,
    energyPj: 40e6 + bits * 1e6,
  });
  const withMasters: SweepForReport = {
    ...sweep,
    summary: [
      { ...sweep.summary[0], trainingStateBytes: 1_151_824, energyPj: 129_956_889.6 },
      costed('fixed/pow2/stochastic/training', 4, 0.85, 1_151_824),
      costed('fixed/pow2/stochastic/training', 8, 0.88, 1_151_824),
      costed('fixed/pow2/stochastic/training/compact', 4, 0.8, 720_536),
      costed('fixed/pow2/stochastic/training/compact', 8, 0.87, 720_536),
    ],
  };
  const md = sweepReportMarkdown(withMasters, { svgPath: '/x/fig.svg' });
  assert.match(md, /## Float32 master against compact weights only/);
  assert.match(md, /### `fixed\/pow2\/stochastic\/training`/);
  // bits | float32 master | compact only | n | training state (float master, compact) | energy
  assert.match(md, /\| 4 \| 85\.00% \[83\.00%, 87\.00%\] \| 80\.00% \[78\.00%, 82\.00%\] \| 3 \/ 3 \| 1\.1 MiB \| 704 KiB \| 44\.00 µJ \|/);
  assert.match(md, /\| 8 \| 88\.00% \[86\.00%, 90\.00%\] \| 87\.00% \[85\.00%, 89\.00%\] \| 3 \/ 3 \| 1\.1 MiB \| 704 KiB \| 48\.00 µJ \|/);
  for (const f of ['fig-bytes.svg', 'fig-training-bytes.svg', 'fig-energy.svg']) assert.ok(md.includes(`](${f})`), f);
  // Every row of "All results" carries its training state and energy.
  assert.match(md, /\| `float32\/training` \| 32 \|.* \| 1\.1 MiB \| 129\.96 µJ \|/);
  // Without compact-master series there is no comparison section.
  assert.doesNotMatch(sweepReportMarkdown(sweep, { svgPath: 'f.svg' }), /compact weights only/);

  const dir = mkdtempSync(join(tmpdir(), 'ql-report-'));
  writeFileSync(join(dir, 'sweep.json'), JSON.stringify(withMasters));
  const ok = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', 'report', '--input', join(dir, 'sweep.json'), '--out', join(dir, 'r.md')], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  const energy = readFileSync(join(dir, 'r-energy.svg'), 'utf8');
  // One line per series (the baseline a single point), the compact-master series among them.
  assert.equal((energy.match(/<polyline /g) ?? []).length, 3);
  assert.match(energy, /fixed\/pow2\/stochastic\/training\/compact/);
  assert.match(readFileSync(join(dir, 'r-training-bytes.svg'), 'utf8'), /704 KiB/);
  assert.match(readFileSync(join(dir, 'r-bytes.svg'), 'utf8'), /<svg/);
});
