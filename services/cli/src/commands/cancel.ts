/** `quantlab cancel ID`: a queued run never starts; a running one stops at its next batch. A sweep id cancels all its runs. */
import { ApiClient, printJson } from '../api-client.ts';
import { onePositional, parseFlags } from '../flags.ts';

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, 'cancel');
  if (f.help) {
    process.stdout.write('usage: quantlab cancel ID [--json]   (a run id run_… or a sweep id swp_…)\n');
    return 0;
  }
  const id = onePositional(positionals, 'cancel', 'one run or sweep id');
  const api = new ApiClient();
  if (id.startsWith('swp_')) {
    const res = await api.request<{ cancelled: number; cancelRequested: number }>('POST', `/sweeps/${encodeURIComponent(id)}/cancel`);
    if (f.json) printJson(res.text);
    else process.stdout.write(`${id}: ${res.body.cancelled} queued runs cancelled, ${res.body.cancelRequested} running runs stopping\n`);
    return 0;
  }
  const res = await api.request<{ status: string; cancelRequested: boolean }>('POST', `/experiments/${encodeURIComponent(id)}/cancel`);
  if (f.json) printJson(res.text);
  else process.stdout.write(res.body.cancelRequested ? `${id}: stopping at its next batch\n` : `${id}: ${res.body.status}\n`);
  return 0;
}
