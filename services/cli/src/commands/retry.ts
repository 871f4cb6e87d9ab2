/** `quantlab retry ID`: queues a failed or cancelled run again (a sweep id: every failed or cancelled run of it). */
import { api as client, body, printJson } from '../api-client.ts';
import { onePositional, parseFlags } from '../flags.ts';

const HELP = `usage: quantlab retry ID [--json]
Queues a failed or cancelled run (run_…) again as a new run linked to it (retryOf), or every failed and cancelled
run of a sweep (swp_…). Prints the new run ids.`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, 'retry');
  if (f.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const id = onePositional(positionals, 'retry', 'one run or sweep id');
  const api = client();
  if (id.startsWith('swp_')) {
    const res = body(await api.POST('/sweeps/{id}/retry', { params: { path: { id } } }));
    if (f.json) printJson(res);
    else if (res.runs.length === 0) process.stdout.write(`${id}: no failed or cancelled run to retry\n`);
    else for (const r of res.runs) process.stdout.write(`${r.id}  (retry of ${r.retryOf})\n`);
    return 0;
  }
  const res = body(await api.POST('/experiments/{id}/retry', { params: { path: { id } } }));
  if (f.json) printJson(res);
  else process.stdout.write(`${res.id}  (retry of ${res.retryOf}, ${res.status})\n`);
  return 0;
}
