/** `quantlab export SWEEP_ID > sweep.json`: a sweep, its run documents and artifacts, to import on another cluster. */
import { writeFileSync } from 'node:fs';
import { api, body } from '../api-client.ts';
import { onePositional, parseFlags } from '../flags.ts';

const HELP = `usage: quantlab export SWEEP_ID [--out FILE]
Prints the sweep as JSON (its record, every run document with its epochs, each artifact in base64) on stdout, or
writes it to FILE. \`quantlab import FILE\` loads it into a cluster; \`quantlab report --input FILE\` reports on it.`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(argv, { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, 'export');
  if (f.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const id = onePositional(positionals, 'export', 'one sweep id');
  // The text as received: an export carries every artifact in base64, so it is not parsed and printed again.
  const text = body(await api().GET('/sweeps/{id}/export', { params: { path: { id } }, parseAs: 'text' }));
  if (typeof f.out === 'string') {
    writeFileSync(f.out, text);
    process.stderr.write(`wrote ${f.out}: sweep ${id} with ${(JSON.parse(text) as { runs: unknown[] }).runs.length} runs\n`);
  } else {
    // Wait until the pipe took it all: main() exits right after, which would cut a large export short.
    await new Promise<void>((resolve, reject) => process.stdout.write(text.endsWith('\n') ? text : text + '\n', (e) => (e ? reject(e) : resolve())));
  }
  return 0;
}
