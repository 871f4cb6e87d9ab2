/** `quantlab export SWEEP_ID > sweep.json`: a sweep, its run documents and artifacts, to import on another cluster. */
import { writeFileSync } from 'node:fs';
import { ApiClient } from '../api-client.ts';
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
  const res = await new ApiClient().request<{ runs: unknown[] }>('GET', `/sweeps/${encodeURIComponent(id)}/export`);
  if (typeof f.out === 'string') {
    writeFileSync(f.out, res.text);
    process.stderr.write(`wrote ${f.out}: sweep ${id} with ${res.body.runs.length} runs\n`);
  } else {
    // Wait until the pipe took it all: main() exits right after, which would cut a large export short.
    await new Promise<void>((resolve, reject) => process.stdout.write(res.text.endsWith('\n') ? res.text : res.text + '\n', (e) => (e ? reject(e) : resolve())));
  }
  return 0;
}
