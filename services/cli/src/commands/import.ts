/** `quantlab import sweep.json`: loads a sweep written by `quantlab export`; statuses are kept, nothing is queued. */
import { readFileSync } from 'node:fs';
import type { JsonBody } from '@quantlab/client';
import { api, body, printJson } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { onePositional, parseFlags } from '../flags.ts';

const HELP = `usage: quantlab import FILE [--same-ids] [--json]
Recreates the sweep of FILE (written by quantlab export; - reads stdin) and its runs, epochs and artifacts on the
cluster at QUANTLAB_URL. Nothing is queued: a run exported while queued or running arrives cancelled (retry it).
The sweep and its runs get new ids unless --same-ids (which fails if one is taken).`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(
    argv,
    { 'same-ids': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    'import',
  );
  if (f.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const file = onePositional(positionals, 'import', 'one file');
  let data: JsonBody<'/import', 'post'>;
  try {
    data = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8')) as typeof data;
  } catch (e) {
    throw new CliError(`${file}: ${(e as Error).message.split('\n')[0]}`, 2);
  }
  const res = body(await api().POST('/import', { params: { query: f['same-ids'] ? { ids: 'same' } : {} }, body: data }));
  if (f.json) printJson(res);
  else process.stdout.write(`imported sweep ${res.id} with ${res.runs.length} runs\n`);
  return 0;
}
