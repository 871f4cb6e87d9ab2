/**
 * `quantlab sweep`: queue a grid of runs, or a preset (`--preset paper --budget small --dataset fashion-mnist`).
 * Representation flags may hold comma lists, which the API expands inside their entry.
 */
import type { JsonBody } from '@quantlab/client';
import { api, body as answer, printJson } from '../api-client.ts';
import { Progress, followSweepToEnd } from '../follow.ts';
import { CliError } from '../cli-error.ts';
import { CONFIG_OPTIONS, defined, num, parseFlags, parseRepr, readJsonFile, trainingFlags } from '../flags.ts';

const USAGE = `usage: quantlab sweep --preset paper [--budget full|small] [--dataset NAME] [--seeds 1,2,3] [training flags]
       quantlab sweep --preset sensitivity [--family fixed|dictionary[:OPTIONS]] [--widths 2,3,4] [--train-widths 2,4] [...]
       quantlab sweep --dataset NAME --repr fixed:2,4,8:nearest,stochastic --repr dictionary:1,2,4 \\
                      [--phase training,inference] [--seeds 1,2] [training flags]
       quantlab sweep --file sweep.json

  --preset paper        the paper's bit-width study (GET /presets shows its grid); --budget small fits one machine
  --preset sensitivity  one layer at a time at each width (then quantlab allocate SWEEP --target 0.99);
                        --family the representation without bits (default fixed:pow2:nearest; a dictionary is
                        per-layer), --widths the widths measured, --train-widths those whose one-layer runs also train
  --repr REPR           repeatable; comma lists expand (fixed:2,4,8:nearest,stochastic is six representations)
  --phase LIST          training, inference or training,inference
  --seeds LIST          one run (and one float32 baseline) per seed
  --master LIST         float32, compact or float32,compact: compact-only training runs where it applies (training
                        phase, stochastic fixed point, dictionaries) as their own series (.../training/compact)
  training flags        --epochs --batch-size --lr --momentum --weight-decay --schedule --train-limit --test-limit
                        --augment --max-minutes --quantize-biases --model --priority --keep
  --name NAME  --idempotency-key KEY  --json
  --wait                follow every run to its end (a line as each ends); exit 0 only if all completed (or were
                        stopped early by the sweep's rule)
                        (with --json, a second line: the final sweep document)
Every sweep adds a float32 baseline per seed that runs first; the API refuses invalid or oversized sweeps whole.`;

const OPTIONS = {
  ...CONFIG_OPTIONS,
  preset: { type: 'string' },
  budget: { type: 'string' },
  seeds: { type: 'string' },
  family: { type: 'string' },
  widths: { type: 'string' },
  'train-widths': { type: 'string' },
} as const;

/** `--family dictionary:nonuniform`: a representation without its bits (the sensitivity preset chooses them). */
function family(text: string): Record<string, unknown> {
  const [kind, ...rest] = text.split(':');
  const { bits: _bits, ...r } = parseRepr([kind, '1', ...rest].join(':'));
  return r;
}

function list(text: string, flag: string): number[] {
  const xs = text.split(',').map((s) => s.trim());
  if (!xs.every((s) => /^\d+$/.test(s))) throw new CliError(`--${flag} takes comma-separated integers, got "${text}"`, 2);
  return xs.map(Number);
}

export async function run(argv: string[]): Promise<number> {
  const { values: f } = parseFlags(argv, OPTIONS, 'sweep');
  if (f.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const training = trainingFlags(f);
  const seeds = typeof f.seeds === 'string' ? list(f.seeds, 'seeds') : undefined;
  let body: unknown;
  if (typeof f.file === 'string') body = readJsonFile(f.file);
  else if (f.preset !== undefined) {
    if (f.repr || f.phase || f.master) throw new CliError('--preset fixes the representations, phases and masters; leave out --repr, --phase and --master', 2);
    body = defined({
      name: f.name,
      preset: f.preset,
      budget: f.budget,
      seeds,
      representation: typeof f.family === 'string' ? family(f.family) : undefined,
      widths: typeof f.widths === 'string' ? list(f.widths, 'widths') : undefined,
      trainWidths: typeof f['train-widths'] === 'string' ? list(f['train-widths'], 'train-widths') : undefined,
      base: defined({
        dataset: f.dataset,
        model: f.model,
        quantizeBiases: f['quantize-biases'],
        priority: num(f, 'priority'),
        keep: f.keep,
        training: Object.keys(training).length ? training : undefined,
      }),
    });
  } else {
    if (f.dataset === undefined) throw new CliError('--dataset (or --preset) is required (quantlab sweep --help)', 2);
    if (f.budget !== undefined) throw new CliError('--budget goes with --preset', 2);
    const reprs = (f.repr as string[] | undefined) ?? [];
    body = {
      name: f.name ?? 'sweep',
      base: defined({ dataset: f.dataset, model: f.model, quantizeBiases: f['quantize-biases'], priority: num(f, 'priority'), keep: f.keep, training }),
      vary: defined({
        representation: reprs.length ? reprs.map((r) => parseRepr(r, true)) : undefined,
        phase: typeof f.phase === 'string' ? f.phase.split(',').map((s) => s.trim()) : undefined,
        seeds,
        'training.master': typeof f.master === 'string' && f.master.includes(',') ? f.master.split(',').map((s) => s.trim()) : undefined,
      }),
    };
  }
  const headers = typeof f['idempotency-key'] === 'string' ? { 'idempotency-key': f['idempotency-key'] } : undefined;
  const client = api();
  const res = answer(await client.POST('/sweeps', { body: body as JsonBody<'/sweeps', 'post'>, headers }));
  if (f.json) printJson(res);
  else {
    const b = Object.keys(res.baselines).length;
    process.stdout.write(`${res.id}  ${res.runs.length} runs queued (${b} float32 baseline${b === 1 ? '' : 's'} first)  (quantlab status ${res.id})\n`);
  }
  if (!f.wait) return 0;
  const done = await followSweepToEnd(client, res.id, new Progress());
  // A run the sweep's stopping rule ended is an outcome of the search, not a failure.
  const unfinished = done.runs.filter((r) => r.status !== 'completed' && r.status !== 'stopped');
  const stopped = done.runs.filter((r) => r.status === 'stopped').length;
  if (f.json) printJson(done);
  else process.stdout.write(`${done.id}  ${done.runs.length - unfinished.length - stopped}/${done.runs.length} runs completed${stopped ? `, ${stopped} stopped early` : ''}\n`);
  return unfinished.length === 0 ? 0 : 1;
}
