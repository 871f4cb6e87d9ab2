/**
 * `quantlab allocate SWEEP --target 0.99`: bits per layer from a sensitivity sweep (`quantlab sweep --preset
 * sensitivity`) that keep the target relative accuracy with the fewest weight bytes; queues the allocated runs.
 */
import { api as client, body, printJson } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { num, onePositional, parseFlags } from '../flags.ts';

const USAGE = `usage: quantlab allocate SWEEP_ID --target 0.99 [--idempotency-key KEY] [--json]
Chooses a width per layer from the sweep's one-layer (sensitivity) runs that keeps --target relative accuracy
(a fraction of the float32 baseline, on the lower end of the 95% interval over seeds) with the fewest weight bytes,
never more than the best uniform width, and queues one training-phase run per seed with those widths.`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(
    argv,
    { target: { type: 'string' }, 'idempotency-key': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    'allocate',
  );
  if (f.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const id = onePositional(positionals, 'allocate', 'one sweep id');
  const target = num(f, 'target');
  if (target === undefined) throw new CliError('allocate needs --target, e.g. --target 0.99 (quantlab allocate --help)', 2);
  const headers = typeof f['idempotency-key'] === 'string' ? { 'idempotency-key': f['idempotency-key'] } : undefined;
  const res = body(await client().POST('/sweeps/{id}/allocate', { params: { path: { id } }, body: { target }, headers }));
  if (f.json) {
    printJson(res);
    return 0;
  }
  const a = res.allocation;
  const widths = Object.entries(a.widths)
    .map(([layer, w]) => `${layer}=${w === 32 ? 'float32' : w}`)
    .join(' ');
  const uniform = a.bestUniform ? `best uniform width ${a.bestUniform.width} bits: ${a.bestUniform.bytes} bytes (${a.bestUniform.judged})` : 'no uniform width keeps the target';
  // A uniform answer judged by its own runs is not the additive prediction's: say which.
  const kept =
    a.uniform && a.bestUniform?.judged === 'measured'
      ? 'kept the target in its uniform runs'
      : `predicted ${(100 * a.predicted.mean).toFixed(2)}% (lower end ${(100 * a.predicted.low).toFixed(2)}%)`;
  process.stdout.write(
    `${res.sweepId}  ${a.uniform ? 'uniform' : 'mixed'} ${widths}: ${a.bytes} weight bytes, ${kept}; ${uniform}\n` +
      `${runsLine(res.runs, res.queued)}  (quantlab status ${res.sweepId})\n`,
  );
  return 0;
}

/** The allocated runs: those queued now, and those the sweep already had with that config (reused, not queued). */
function runsLine(runs: string[], queued: string[]): string {
  const reused = runs.filter((id) => !queued.includes(id));
  const parts = [queued.length ? `${queued.length} run(s) queued: ${queued.join(' ')}` : '', reused.length ? `${reused.length} run(s) the sweep already had with this config: ${reused.join(' ')}` : ''];
  return parts.filter(Boolean).join('; ');
}
