// `quantlab <command> [options]`: each command lives in commands/<name>.ts and exports `run(argv): Promise<number>`.
import { CliError } from './cli-error.ts';
import { printable } from './printable.ts';

const COMMANDS = {
  train: 'train one experiment in this process, without Redis',
  submit: 'queue one experiment on the API',
  sweep: 'queue a sweep (or a preset such as --preset paper) on the API',
  status: 'show a run or a sweep (--follow: until it ends)',
  logs: 'stream a run\'s epochs as they arrive',
  ls: 'list runs',
  cancel: 'cancel a run or a sweep',
  rm: 'delete a run or a sweep and everything stored for it',
  retry: 'queue a failed or cancelled run (or every failed run of a sweep) again',
  work: 'run a worker that trains queued runs',
  allocate: 'choose bits per layer from a sensitivity sweep and queue the allocated runs',
  report: 'write the Markdown report of a sweep',
  eval: 'decode an artifact, restore its model and report its test accuracy',
  export: 'print a sweep and its runs as JSON',
  'export-model': "write a run's model as ONNX, a TF.js Layers zip or .npz",
  import: 'load an exported sweep into this cluster',
} as const;
type Command = keyof typeof COMMANDS;

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return ['usage: quantlab <command> [options]', '', ...Object.entries(COMMANDS).map(([c, d]) => `  ${c.padEnd(width)}  ${d}`), '', 'quantlab <command> --help for its options'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  if (!(name in COMMANDS)) throw new CliError(`unknown command "${name}" (quantlab --help lists them)`, 2);
  const mod = (await import(`./commands/${name as Command}.ts`)) as { run(argv: string[]): Promise<number> };
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    // One line on stderr: what went wrong, not a stack trace.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`quantlab: ${printable(message.split('\n')[0])}\n`);
    process.exit(err instanceof CliError ? err.exitCode : 1);
  },
);
