/** `quantlab rm ID...`: deletes runs or sweeps and everything stored for them; a running run is cancelled first. */
import { api as client } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { parseFlags } from '../flags.ts';

const HELP = `usage: quantlab rm ID... [--json]
Deletes each run (run_…) or sweep (swp_…, with all its runs): documents, epochs, checkpoints, artifacts and queued
jobs. A running run is cancelled first. With --json, one line per id: {"id","deleted":true}.`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals: ids } = parseFlags(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, 'rm');
  if (f.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (ids.length === 0) throw new CliError('rm takes one or more run or sweep ids (quantlab rm --help)', 2);
  const api = client();
  for (const id of ids) {
    const kind = id.startsWith('swp_') ? 'sweep' : 'run';
    const params = { path: { id } };
    await (kind === 'sweep' ? api.DELETE('/sweeps/{id}', { params }) : api.DELETE('/experiments/{id}', { params }));
    process.stdout.write(f.json ? JSON.stringify({ id, deleted: true }) + '\n' : `deleted ${kind} ${id}\n`);
  }
  return 0;
}
