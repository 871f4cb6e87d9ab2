/**
 * `quantlab export-model RUN --format onnx|tfjs|npz --out FILE`: a completed run's model in a format other runtimes
 * load (docs/EXPORT.md), from the API (GET /experiments/:id/export) or, when RUN is an artifact file (quantlab train
 * --artifact, GET /experiments/:id/artifact), exported here without the API.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { ExportFormat } from '@quantlab/shared';
import { ExportError, exportArtifact } from '@quantlab/ml/export/index';
import { api, body } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { onePositional, parseFlags } from '../flags.ts';

const HELP = `usage: quantlab export-model RUN --format onnx|tfjs|npz --out FILE
Writes the model of RUN — a run id (run_…, read from the API at QUANTLAB_URL) or an artifact file (.qlab) — as
  onnx  ONNX opset 13, the compact weights decoded in the graph (onnxruntime)
  tfjs  a zip of a TF.js Layers model.json and its float32 weight shard (tf.loadLayersModel)
  npz   NumPy arrays: codes, codebooks or steps, scales and shapes (clients/python/quantlab_client/artifact.py)
FILE is written whole or not at all.`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(argv, { format: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, 'export-model');
  if (f.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const source = onePositional(positionals, 'export-model', 'one run id or artifact file');
  const format = ExportFormat.safeParse(f.format);
  if (!format.success) throw new CliError(`--format: expected ${ExportFormat.options.join(', ')}, got ${f.format === undefined ? 'nothing' : `"${String(f.format)}"`}`, 2);
  if (typeof f.out !== 'string' || f.out === '') throw new CliError('--out FILE is required (quantlab export-model --help)', 2);
  let bytes: Uint8Array;
  if (/^run_/.test(source) && !existsSync(source)) {
    const r = await api().GET('/experiments/{id}/export', { params: { path: { id: source }, query: { format: format.data } }, parseAs: 'arrayBuffer' });
    bytes = new Uint8Array(body(r) as ArrayBuffer);
  } else {
    let artifact: Uint8Array;
    try {
      artifact = readFileSync(source);
    } catch (e) {
      throw new CliError(`${source}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (and not a run id)' : (e as Error).message}`, 2);
    }
    try {
      bytes = exportArtifact(artifact, format.data);
    } catch (e) {
      if (e instanceof ExportError) throw new CliError(`${source}: ${e.message}`);
      throw e;
    }
  }
  // Beside the target and renamed over it: a reader never sees half a file.
  const tmp = `${f.out}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, f.out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new CliError(`${f.out}: ${(e as Error).message}`);
  }
  process.stderr.write(`wrote ${f.out}: ${format.data}, ${bytes.length} bytes\n`);
  return 0;
}
