/** `quantlab logs RUN`: a run's epochs, those already done and then each as it arrives, until the run ends. */
import { api } from '../api-client.ts';
import { onePositional, parseFlags } from '../flags.ts';
import { Progress, followRunToEnd, outcomeLine } from '../follow.ts';

const USAGE = `usage: quantlab logs RUN_ID
  Prints the run's epochs (loss, accuracy, images/s) as they arrive over its live event stream, reconnecting if the
  connection drops, and a last line with how it ended. Exit 0 if it completed, 1 if it failed, stopped or was cancelled.`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(argv, { help: { type: 'boolean', short: 'h' } }, 'logs');
  if (f.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const id = onePositional(positionals, 'logs', 'one run id');
  // Lines on stdout (they are the output here); the bar is drawn only on a terminal, and cleared before each line.
  const d = await followRunToEnd(api(), id, { epochLines: true, progress: new Progress(process.stdout) });
  process.stdout.write(outcomeLine(d) + '\n');
  return d.status === 'completed' ? 0 : 1;
}
