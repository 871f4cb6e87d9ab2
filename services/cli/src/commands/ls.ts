/** `quantlab ls`: runs newest first (filters, pages), or sweeps with --sweeps. */
import { labelOf } from '@quantlab/shared/schemas/label';
import { api as client, body, pct, printJson, table } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { parseFlags } from '../flags.ts';

const USAGE = `usage: quantlab ls [--status S] [--sweep ID] [--dataset D] [--kind float32|fixed|dictionary] [--limit N] [--cursor C] [--json]
       quantlab ls --sweeps [--limit N] [--cursor C] [--json]`;

const OPTIONS = {
  status: { type: 'string' },
  sweep: { type: 'string' },
  dataset: { type: 'string' },
  kind: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  sweeps: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(argv, OPTIONS, 'ls');
  if (f.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length) throw new CliError(`ls takes no arguments, got "${positionals[0]}" (quantlab ls --help)`, 2);
  const q: Record<string, string> = {};
  const keys = f.sweeps ? ['limit', 'cursor'] : ['status', 'sweep', 'dataset', 'kind', 'limit', 'cursor'];
  for (const k of Object.keys(OPTIONS)) {
    if (typeof f[k] !== 'string') continue;
    if (!keys.includes(k)) throw new CliError(`--${k} does not go with --sweeps`, 2);
    q[k] = f[k] as string;
  }
  const api = client();
  if (f.sweeps) {
    // The API checks the values (limit is a number, cursor its own): its problem detail is the message.
    const res = body(await api.GET('/sweeps', { params: { query: q as { limit?: number } } }));
    if (f.json) return printJson(res), 0;
    process.stdout.write(table(['id', 'status', 'runs', 'done', 'created', 'name'], res.items.map((s) => [s.id, s.status, s.runIds.length, s.counts.completed, s.createdAt.slice(0, 19), s.name])) + '\n');
    if (res.nextCursor) process.stdout.write(`more: quantlab ls --sweeps --cursor ${res.nextCursor}\n`);
    return 0;
  }
  const res = body(await api.GET('/experiments', { params: { query: q as { limit?: number } } }));
  if (f.json) return printJson(res), 0;
  process.stdout.write(
    table(
      ['id', 'status', 'progress', 'dataset', 'model', 'repr', 'phase', 'test acc', 'relative', 'name'],
      res.items.map((d) => [d.id, d.status, `${Math.round(d.progress.fraction * 100)}%`, d.config.dataset, d.config.model, labelOf(d.config.representation), d.config.phase, pct(d.metrics.testAccuracy), pct(d.metrics.relativeAccuracy), d.name]),
    ) + '\n',
  );
  if (res.nextCursor) process.stdout.write(`more: repeat with --cursor ${res.nextCursor}\n`);
  return 0;
}
