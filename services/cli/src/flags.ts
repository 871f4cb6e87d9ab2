/** Command-line flags shared by the commands: parsing, numbers, the --repr short forms, config flags. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CliError } from './cli-error.ts';

/** The flags submit and sweep share: they describe an experiment config. */
export const CONFIG_OPTIONS = {
  dataset: { type: 'string' },
  model: { type: 'string' },
  repr: { type: 'string', multiple: true },
  phase: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  schedule: { type: 'string' },
  master: { type: 'string' },
  seed: { type: 'string' },
  'train-limit': { type: 'string' },
  'test-limit': { type: 'string' },
  augment: { type: 'boolean' },
  'max-minutes': { type: 'string' },
  'quantize-biases': { type: 'boolean' },
  name: { type: 'string' },
  priority: { type: 'string' },
  keep: { type: 'boolean' },
  file: { type: 'string' },
  'idempotency-key': { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Flags = Record<string, string | boolean | string[] | undefined>;

export function parseFlags(argv: string[], options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>, command: string): { values: Flags; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { values: r.values as Flags, positionals: r.positionals };
  } catch (e) {
    throw new CliError(`${(e as Error).message.split('\n')[0]} (quantlab ${command} --help)`, 2);
  }
}

/** The single argument of a command that takes exactly one (`what` names it in the message). */
export function onePositional(positionals: string[], command: string, what: string): string {
  const arg = positionals[0];
  if (!arg || positionals.length > 1) throw new CliError(`${command} takes ${what} (quantlab ${command} --help)`, 2);
  return arg;
}

/** A number flag; the API checks ranges, this only refuses what is not a number. */
export function num(flags: Flags, flag: string): number | undefined {
  const v = flags[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new CliError(`--${flag} must be a number, got "${String(v)}"`, 2);
  return n;
}

/**
 * `--repr` short forms. With `lists`, a token may hold comma-separated values that a sweep expands
 * (`fixed:2,4,8:nearest,stochastic`).
 */
export function parseRepr(text: string, lists = false): Record<string, unknown> {
  const s = text.trim();
  if (s.startsWith('{')) {
    try {
      return JSON.parse(s) as Record<string, unknown>;
    } catch {
      throw new CliError(`--repr: not valid JSON: ${s}`, 2);
    }
  }
  const [kind, bitsText, ...rest] = s.split(':');
  if (kind === 'float32') {
    if (bitsText !== undefined) throw new CliError('--repr float32 takes no options', 2);
    return { kind };
  }
  if (kind !== 'fixed' && kind !== 'dictionary') throw new CliError(`--repr: unknown kind "${kind}" (float32, fixed:BITS or dictionary:BITS)`, 2);
  const values = (token: string) => (lists ? token.split(',') : [token]);
  const one = <T>(xs: T[]): T | T[] => (xs.length === 1 ? xs[0] : xs);
  const bits = values(bitsText ?? '');
  if (!bits.every((b) => /^\d+$/.test(b))) throw new CliError(`--repr ${kind} needs a bit width, e.g. ${kind}:8${lists ? ' or ' + kind + ':2,4,8' : ''}`, 2);
  const r: Record<string, unknown> = { kind, bits: one(bits.map(Number)) };
  const keyOf = (t: string): [string, unknown] => {
    if (kind === 'fixed') {
      if (t === 'pow2' || t === 'maxabs' || t === 'mse') return ['range', t];
      if (t === 'nearest' || t === 'stochastic') return ['rounding', t];
      if (/^f-?\d+$/.test(t)) return ['fractionBits', Number(t.slice(1))];
    } else {
      if (t === 'global' || t === 'per-layer') return ['scope', t];
      if (t === 'uniform' || t === 'nonuniform') return ['init', t];
      if (/^r\d+$/.test(t)) return ['refine', Number(t.slice(1))];
      if (t === 'step' || t === 'epoch' || t === 'never') return ['refitEvery', t];
      if (t === 'refit' || t === 'gradient') return ['update', t];
    }
    if (t === 'layer' || t === 'channel') return ['granularity', t];
    throw new CliError(`--repr ${kind}: unknown option "${t}"`, 2);
  };
  for (const token of rest) {
    const pairs = values(token).map(keyOf);
    const key = pairs[0][0];
    if (pairs.some(([k]) => k !== key)) throw new CliError(`--repr: "${token}" mixes options of different kinds`, 2);
    if (key in r) throw new CliError(`--repr: "${token}" sets ${key} twice`, 2);
    r[key] = one(pairs.map(([, v]) => v));
  }
  return r;
}

/** The training settings given on the command line (only those given: the API or the preset fills the rest). */
export function trainingFlags(flags: Flags): Record<string, unknown> {
  return defined({
    epochs: num(flags, 'epochs'),
    batchSize: num(flags, 'batch-size'),
    learningRate: num(flags, 'lr'),
    momentum: num(flags, 'momentum'),
    weightDecay: num(flags, 'weight-decay'),
    schedule: flags.schedule,
    // A list (sweep's float32,compact) is varied by the sweep instead.
    master: typeof flags.master === 'string' && !flags.master.includes(',') ? flags.master : undefined,
    seed: num(flags, 'seed'),
    trainLimit: num(flags, 'train-limit'),
    testLimit: num(flags, 'test-limit'),
    augment: flags.augment,
    maxMinutes: num(flags, 'max-minutes'),
  });
}

export function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CliError(`--file ${path}: ${(e as Error).message.split('\n')[0]}`, 2);
  }
}
