/**
 * `quantlab train`: one experiment in this process, without Redis. The flags build an ExperimentConfig through the
 * shared schema (the API's own validation); with --json, stdout carries exactly one line, the run's RunDocument.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  ARTIFACT_FORMAT,
  ExperimentConfig,
  loadEnvOrExit,
  newId,
  newRunDocument,
  labelOf,
  type RunDocument,
  type EpochMetrics,
  type ExperimentConfigInput,
  type RunStatus,
} from '@quantlab/shared';
import { selectBackend, BACKEND_CHOICES, trainExperiment, RunInputError, BackendError, type BackendChoice, type StopReason, type TrainOutcome } from '@quantlab/ml';
import { provenanceOf } from '@quantlab/ml/training/provenance';
import { version_core as tfVersion } from '@tensorflow/tfjs';
import { CONFIG_OPTIONS, parseRepr } from '../flags.ts';
import { CliError } from '../cli-error.ts';
import { localDataset } from '../local-dataset.ts';
import { localModel } from '../local-model.ts';

const USAGE = `usage: quantlab train --dataset NAME [options]

  --dataset mnist|fashion-mnist|cifar10|synthetic   (cifar10 reads DATA_DIR)
            idx:NAME|npz:NAME|folder:NAME             your data under DATA_DIR (docs/DATASETS.md)
            idx:PATH|npz:PATH|folder:PATH             or by path here: an IDX folder, a .npz file, an image folder
  --model cnn5|mlp|resnet20|vgg-small   default cnn5
  --model-file PATH                your own TF.js Layers model: model.json with its weight shards beside it
                                   (docs/MODELS.md)
  --init pretrained|random         a --model-file model's first weights: its own (default) or drawn from --seed
  --repr REPR                      float32 (default), fixed:BITS[:RANGE][:ROUNDING][:fFRAC][:SCALE],
                                   dictionary:BITS[:SCOPE][:INIT][:rREFINE][:REFIT][:UPDATE][:SCALE], or a JSON object
                                   RANGE pow2 (Q-format) | maxabs | mse (linear)  ROUNDING nearest|stochastic
                                   fFRAC fraction bits (pow2)  SCALE layer|channel (one scale a layer or an output channel)
                                   SCOPE global|per-layer  INIT uniform|nonuniform  rN Lloyd iterations
                                   REFIT step|epoch|never  UPDATE refit|gradient (entries refit, or trained: learned)
                                   e.g. fixed:8:pow2:stochastic, dictionary:4:per-layer:nonuniform:r5
  --phase training|inference       compact weights while training, or quantize a float32 model once
  --quantize-biases                quantize biases too (kernels always are)
  --epochs N --batch-size N --lr X --momentum X --weight-decay X --schedule constant|step|cosine
  --master float32|compact         float32 master weights (default), or compact weights only: updates round
                                   stochastically onto the grid / between dictionary entries (training phase;
                                   fixed point needs :stochastic)
  --seed N --train-limit N --test-limit N --augment --max-minutes X --name NAME
  --backend auto|tensorflow|native|wasm|cpu   default TFJS_BACKEND (auto); NATIVE_THREADS sets oneDNN's threads
  --artifact FILE                  write the packed compact model (for quantlab eval)
  --json                           print the RunDocument as one JSON line on stdout`;

// The config flags of submit and sweep, less those that only make sense against the API; one --repr here.
const { repr: _repr, priority: _priority, keep: _keep, file: _file, 'idempotency-key': _key, ...CONFIG_FLAGS } = CONFIG_OPTIONS;
const OPTIONS = {
  ...CONFIG_FLAGS,
  repr: { type: 'string' },
  backend: { type: 'string' },
  artifact: { type: 'string' },
  'model-file': { type: 'string' },
  init: { type: 'string' },
} as const;

const usageError = (msg: string) => new CliError(`${msg} (quantlab train --help)`, 2);

function number(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw usageError(`--${flag} must be a number, got "${v}"`);
  return n;
}

export function configFromFlags(v: Record<string, string | boolean | undefined>): ExperimentConfig {
  const str = (k: string) => v[k] as string | undefined;
  const training = Object.fromEntries(
    Object.entries({
      epochs: number('epochs', str('epochs')),
      batchSize: number('batch-size', str('batch-size')),
      learningRate: number('lr', str('lr')),
      momentum: number('momentum', str('momentum')),
      weightDecay: number('weight-decay', str('weight-decay')),
      schedule: str('schedule'),
      master: str('master'),
      seed: number('seed', str('seed')),
      trainLimit: number('train-limit', str('train-limit')),
      testLimit: number('test-limit', str('test-limit')),
      augment: v.augment as boolean | undefined,
      maxMinutes: number('max-minutes', str('max-minutes')),
    }).filter(([, x]) => x !== undefined),
  );
  const input: Record<string, unknown> = {
    name: str('name'),
    dataset: str('dataset'),
    model: str('model'),
    init: str('init'),
    phase: str('phase'),
    representation: str('repr') === undefined ? undefined : parseRepr(str('repr')!),
    quantizeBiases: v['quantize-biases'] as boolean | undefined,
    training,
  };
  if (input.dataset === undefined) throw usageError('--dataset is required');
  const parsed = ExperimentConfig.safeParse(Object.fromEntries(Object.entries(input).filter(([, x]) => x !== undefined)) as ExperimentConfigInput);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = flagOf(issue.path.map(String));
    throw usageError(`${flag}: ${issue.message}`);
  }
  if (parsed.data.name === 'experiment') parsed.data.name = `${parsed.data.dataset}-${parsed.data.model}-${labelOf(parsed.data.representation)}`;
  return parsed.data;
}

function flagOf(path: string[]): string {
  const flags: Record<string, string> = {
    representation: '--repr',
    batchSize: '--batch-size',
    learningRate: '--lr',
    weightDecay: '--weight-decay',
    trainLimit: '--train-limit',
    testLimit: '--test-limit',
    quantizeBiases: '--quantize-biases',
    maxMinutes: '--max-minutes',
  };
  const key = path[0] === 'training' ? path[1] : path[0];
  return flags[key] ?? `--${key}`;
}

/** A one-line progress bar on stderr, redrawn in place (only on a terminal). */
function progressBar(enabled: boolean) {
  let last = '';
  return {
    draw(fraction: number, text: string) {
      if (!enabled) return;
      const width = 30;
      const done = Math.round(fraction * width);
      const line = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${text}`;
      if (line !== last) process.stderr.write(`\r${line}\x1b[K`);
      last = line;
    },
    /** A line of its own on stderr, above the bar. */
    log(text: string) {
      process.stderr.write(enabled && last ? `\r\x1b[K${text}\n${last}` : `${text}\n`);
    },
    end() {
      if (enabled && last) process.stderr.write('\n');
    },
  };
}

const STATUS: Record<'completed' | StopReason, RunStatus> = { completed: 'completed', cancel: 'cancelled', shutdown: 'cancelled', timeout: 'failed', stopped: 'stopped' };

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw usageError((e as Error).message.split('\n')[0]);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const env = loadEnvOrExit();
  const local = localDataset(values.dataset as string | undefined, env.DATA_DIR);
  const modelFile = values['model-file'] as string | undefined;
  if (modelFile !== undefined && values.model !== undefined) throw usageError('--model and --model-file exclude each other');
  const uploaded = modelFile === undefined ? null : await localModel(modelFile);
  const config = configFromFlags({ ...values, dataset: local.dataset, ...(uploaded ? { model: uploaded.id } : {}) });
  const choice = (values.backend as string | undefined) ?? env.TFJS_BACKEND;
  if (!BACKEND_CHOICES.includes(choice as BackendChoice)) throw usageError(`--backend: expected ${BACKEND_CHOICES.join(', ')}, got "${choice}"`);

  const json = Boolean(values.json);
  const bar = progressBar(Boolean(process.stderr.isTTY));
  const id = newId('run');
  const createdAt = new Date().toISOString();
  let interrupted = false;
  const onSigint = () => (interrupted = true);
  process.once('SIGINT', onSigint);
  const epochs: EpochMetrics[] = [];
  let outcome: TrainOutcome | null = null;
  let error: string | null = null;
  let backend = choice;
  const deadline = config.training.maxMinutes ? Date.now() + config.training.maxMinutes * 60_000 : null;
  try {
    const selection = await selectBackend(choice as BackendChoice, { threads: env.NATIVE_THREADS });
    backend = selection.name;
    if (!json) bar.log(`backend ${selection.name} (${selection.reason})`);
    outcome = await trainExperiment(
      { config, dataDir: local.dataDir, uploadedModel: uploaded?.model ?? null },
      {
        onProgress: (p) => bar.draw(p.fraction, `epoch ${p.epoch}/${p.epochs} ${p.imagesPerSec.toFixed(0)} img/s`),
        onEpoch: (e) => {
          epochs.push(e);
          if (!json) bar.log(`epoch ${e.epoch}/${config.training.epochs}: loss ${e.trainLoss.toFixed(4)} test ${(e.testAccuracy * 100).toFixed(2)}% ${e.imagesPerSec.toFixed(0)} img/s`);
        },
        shouldStop: () => (interrupted ? 'cancel' : deadline !== null && Date.now() > deadline ? 'timeout' : null),
      },
    );
  } catch (e) {
    if (!(e instanceof RunInputError || e instanceof BackendError)) throw e;
    error = e.message;
  } finally {
    process.off('SIGINT', onSigint);
    bar.end();
  }
  if (outcome?.artifact && values.artifact) await writeFile(values.artifact as string, outcome.artifact);

  const status: RunStatus = outcome ? STATUS[outcome.status] : 'failed';
  if (outcome?.status === 'timeout') error = 'the run exceeded its time limit';
  const fresh = newRunDocument(config, { id, createdAt });
  const doc: RunDocument = {
    ...fresh,
    status,
    progress: { epoch: epochs.length, epochs: config.training.epochs, fraction: epochs.length / config.training.epochs },
    metrics: outcome?.metrics ?? fresh.metrics,
    epochs,
    error: error ? { message: error } : null,
    startedAt: createdAt,
    finishedAt: new Date().toISOString(),
    dataset: outcome?.dataset ?? null,
    provenance: provenanceOf(config, { backend, tfjsVersion: tfVersion }, null),
    artifact: outcome?.artifact ? { bytes: outcome.artifact.length, format: ARTIFACT_FORMAT } : null,
  };
  if (json) process.stdout.write(JSON.stringify(doc) + '\n');
  else process.stdout.write(summary(doc) + '\n');
  if (status !== 'completed') {
    process.stderr.write(`quantlab: run ${status}${error ? `: ${error}` : ''}\n`);
    return 1;
  }
  return 0;
}

function summary(doc: RunDocument): string {
  const m = doc.metrics;
  const pct = (x: number | null | undefined) => (x == null ? '-' : `${(x * 100).toFixed(2)}%`);
  const lines = [
    `${doc.name}  ${doc.status}  (${labelOf(doc.config.representation)}, ${doc.config.phase} phase, ${doc.config.model} on ${doc.config.dataset}, backend ${m.backend ?? '-'})`,
    `test accuracy ${pct(m.testAccuracy)}   train loss ${m.trainLoss?.toFixed(4) ?? '-'}   ${m.imagesPerSec?.toFixed(0) ?? '-'} img/s   ${((m.durationMs ?? 0) / 1000).toFixed(1)} s`,
  ];
  if (m.weightBytes) lines.push(`weights ${m.weightBytes.float32} B float32 -> ${m.weightBytes.compact} B compact (x${m.compressionRatio?.toFixed(2)})`);
  return lines.join('\n');
}
