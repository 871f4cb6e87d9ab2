/** `quantlab status ID`: a run (run_…) with its epochs, or a sweep (swp_…) with its summary. */
import type { RunDocument, SweepDocument } from '@quantlab/client';
import { labelOf } from '@quantlab/shared/schemas/label';
import { api as client, body, pct, table } from '../api-client.ts';
import { Progress, followRunToEnd, followSweepToEnd, outcomeLine } from '../follow.ts';
import { CliError } from '../cli-error.ts';
import { onePositional, parseFlags } from '../flags.ts';
import { printable } from '../printable.ts';

const USAGE = `usage: quantlab status ID [--json] [--follow]
  ID is a run id (run_…) or a sweep id (swp_…). --json prints the API's document as one line.
  --follow  keep going: a run's epochs as they arrive (a sweep's counts), until it ends; exit 0 only if it completed
            (a sweep: every run completed or was stopped early by the sweep's rule)`;

export function runLines(d: RunDocument): string {
  const m = d.metrics;
  const lines = [
    `${d.id}  ${printable(d.name)}`,
    `status      ${d.status}${d.error ? `: ${printable(d.error.message)}` : ''}`,
    `config      ${d.config.dataset} ${d.config.model} ${labelOf(d.config.representation)} ${d.config.phase}, ${d.config.training.epochs} epochs, seed ${d.config.training.seed}`,
    `series      ${printable(d.series)}`,
    `progress    epoch ${d.progress.epoch}/${d.progress.epochs} (${(d.progress.fraction * 100).toFixed(0)}%)`,
    `test acc    ${pct(m.testAccuracy) ?? '-'}${m.relativeAccuracy !== undefined ? `  (relative to float32: ${pct(m.relativeAccuracy)})` : ''}`,
  ];
  if (m.weightBytes) lines.push(`weights     ${m.weightBytes.compact} bytes compact, ${m.weightBytes.float32} float32 (${m.compressionRatio?.toFixed(2) ?? '-'}x)`);
  if (m.trainingStateBytes) lines.push(`training    held ${m.trainingStateBytes.compact} bytes of weights and optimizer state (${m.trainingStateBytes.float32} with float32 weights)`);
  if (m.energy) lines.push(`energy      ${(m.energy.totalPj / 1e6).toFixed(2)} µJ an inference image (weights ${(m.energy.weightReadPj / 1e6).toFixed(2)}, fp32 MACs ${(m.energy.macPj / 1e6).toFixed(2)}; ${(m.energy.ifActivations.totalPj / 1e6).toFixed(2)} if activations were ${m.energy.ifActivations.bits}-bit)`);
  if (m.backend) lines.push(`backend     ${printable(m.backend)}${d.workerId ? ` on ${printable(d.workerId)}` : ''}`);
  if (d.sweepId) lines.push(`sweep       ${d.sweepId}${d.baselineId ? `, baseline ${d.baselineId}` : ''}`);
  if (d.epochs.length) {
    lines.push('', table(['epoch', 'train loss', 'train acc', 'test acc', 'images/s', 'seconds'], d.epochs.map((e) => [e.epoch, e.trainLoss.toFixed(4), pct(e.trainAccuracy), pct(e.testAccuracy), Math.round(e.imagesPerSec), (e.durationMs / 1000).toFixed(1)])));
  }
  return lines.join('\n');
}

export function sweepLines(s: SweepDocument): string {
  const c = s.counts;
  return [
    `${s.id}  ${printable(s.name)}${s.preset ? `  (preset ${s.preset}, ${s.budget})` : ''}`,
    `status      ${s.status}: ${c.completed} completed, ${c.running} running, ${c.queued} queued, ${c.failed} failed, ${c.cancelled} cancelled${c.stopped ? `, ${c.stopped} stopped early` : ''}`,
    '',
    table(
      ['series', 'bits', 'n', 'test acc', 'relative', 'rel min', 'rel max', 'bytes', 'ratio', 'train state', 'µJ/image'],
      s.summary.map((r) => [
        r.series,
        r.bits,
        `${r.n}/${r.runs}`,
        pct(r.testAccuracy.mean),
        pct(r.relativeAccuracy.mean),
        pct(r.relativeAccuracy.min),
        pct(r.relativeAccuracy.max),
        r.compactBytes === null ? null : Math.round(r.compactBytes),
        r.compressionRatio === null ? null : `${r.compressionRatio.toFixed(2)}x`,
        r.trainingStateBytes === null ? null : Math.round(r.trainingStateBytes),
        r.energyPj === null ? null : (r.energyPj / 1e6).toFixed(2),
      ]),
    ),
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(argv, { json: { type: 'boolean' }, follow: { type: 'boolean', short: 'f' }, help: { type: 'boolean', short: 'h' } }, 'status');
  if (f.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const id = onePositional(positionals, 'status', 'one run or sweep id');
  const api = client();
  const params = { path: { id } };
  if (f.follow && f.json) throw new CliError('--follow prints lines; leave out --json', 2);
  if (f.follow && id.startsWith('swp_')) {
    const s = await followSweepToEnd(api, id, new Progress());
    process.stdout.write(sweepLines(s) + '\n');
    // As sweep --wait: a run the sweep's stopping rule ended is an outcome of the search, not a failure.
    return s.runs.every((r) => r.status === 'completed' || r.status === 'stopped') ? 0 : 1;
  }
  if (f.follow) {
    // The document as it stands (without its epoch table), then each epoch as it arrives.
    const first = (d: RunDocument) => process.stdout.write(runLines({ ...d, epochs: [] }) + '\n\n');
    const d = await followRunToEnd(api, id, { epochLines: true, progress: new Progress(process.stdout), first });
    process.stdout.write(outcomeLine(d) + '\n');
    return d.status === 'completed' ? 0 : 1;
  }
  if (id.startsWith('swp_')) {
    const s = body(await api.GET('/sweeps/{id}', { params }));
    process.stdout.write((f.json ? JSON.stringify(s) : sweepLines(s)) + '\n');
  } else {
    const d = body(await api.GET('/experiments/{id}', { params }));
    process.stdout.write((f.json ? JSON.stringify(d) : runLines(d)) + '\n');
  }
  return 0;
}
