import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { api, body } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { costSvgPaths, relativeAccuracyChart, sweepReportMarkdown, type SweepForReport } from '../report/sweep-report.ts';
import { costChart, type CostAxis } from '../report/master-report.ts';

const HELP = `usage: quantlab report SWEEP_ID [--out report.md] [--svg figure.svg] [--notes notes.md]
       quantlab report --input sweep.json [...]   (a file written by \`quantlab export\`)
Writes a Markdown report of a sweep (table, figure, fewest bits keeping 99% / 98%, float32 against compact master)
and its SVG figures (relative accuracy against bits; accuracy against bytes, training-state bytes and energy).
Reads the sweep from QUANTLAB_URL (default http://127.0.0.1:3000) with QUANTLAB_TOKEN.`;

async function fetchSweep(id: string): Promise<SweepForReport> {
  return body(await api().GET('/sweeps/{id}', { params: { path: { id } } })) as SweepForReport;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = (() => {
    try {
      return parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' }, svg: { type: 'string' }, notes: { type: 'string' }, input: { type: 'string' }, help: { type: 'boolean' } } });
    } catch (e) {
      throw new CliError((e as Error).message, 2);
    }
  })();
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const id = positionals[0];
  if (!id && !values.input) throw new CliError('report needs a SWEEP_ID or --input FILE (quantlab report --help)', 2);
  let sweep: SweepForReport;
  if (values.input) {
    const data = JSON.parse(readFileSync(values.input, 'utf8')) as { sweep?: SweepForReport } & SweepForReport;
    sweep = data.sweep ?? data;
  } else {
    sweep = await fetchSweep(id!);
  }
  if (!Array.isArray(sweep.summary) || !Array.isArray(sweep.runs)) throw new CliError('that is not a sweep (no runs and summary)');
  const out = values.out ?? `report-${sweep.id}.md`;
  const svg = values.svg ?? out.replace(/\.md$/, '') + '.svg';
  const notes = values.notes ? readFileSync(values.notes, 'utf8') : undefined;
  writeFileSync(svg, relativeAccuracyChart(sweep));
  const costs = costSvgPaths(svg);
  for (const axis of Object.keys(costs) as CostAxis[]) writeFileSync(costs[axis], costChart(sweep.name, sweep.summary, axis));
  writeFileSync(out, sweepReportMarkdown(sweep, { svgPath: svg, notes }));
  process.stderr.write(`wrote ${out}, ${svg} and ${Object.values(costs).join(', ')}\n`);
  return 0;
}
