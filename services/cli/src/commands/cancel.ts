/** `quantlab cancel ID`: a queued run never starts; a running one stops at its next batch. A sweep id cancels all its runs. */
import { api as client, body, printJson } from '../api-client.ts';
import { onePositional, parseFlags } from '../flags.ts';

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, 'cancel');
  if (f.help) {
    process.stdout.write('usage: quantlab cancel ID [--json]   (a run id run_… or a sweep id swp_…)\n');
    return 0;
  }
  const id = onePositional(positionals, 'cancel', 'one run or sweep id');
  const api = client();
  if (id.startsWith('swp_')) {
    const res = body(await api.POST('/sweeps/{id}/cancel', { params: { path: { id } } }));
    if (f.json) printJson(res);
    else process.stdout.write(`${id}: ${res.cancelled} queued runs cancelled, ${res.cancelRequested} running runs stopping\n`);
    return 0;
  }
  const res = body(await api.POST('/experiments/{id}/cancel', { params: { path: { id } } }));
  if (f.json) printJson(res);
  else process.stdout.write(res.cancelRequested ? `${id}: stopping at its next batch\n` : `${id}: ${res.status}\n`);
  return 0;
}
