/**
 * `quantlab eval ARTIFACT --dataset mnist`: decodes a downloaded artifact (GET /experiments/:id/artifact), rebuilds
 * the model from its bytes alone and reports its test accuracy. The artifact's meta names the run's test subset, so
 * the number is the run's metrics.testAccuracy (when evaluated on the same backend).
 */
import { readFileSync } from 'node:fs';
import { Dataset, labelOf, loadEnvOrExit } from '@quantlab/shared';
import { localDataset } from '../local-dataset.ts';
import { BACKEND_CHOICES, BackendError, RunInputError, evaluateArtifact, initBackend, type BackendChoice } from '@quantlab/ml';
import { CliError } from '../cli-error.ts';
import { num, onePositional, parseFlags } from '../flags.ts';

const HELP = `usage: quantlab eval ARTIFACT [--dataset NAME] [--test-limit N] [--backend auto|tensorflow|native|wasm|cpu] [--json]
Restores the model packed in ARTIFACT and reports its test accuracy on the test split of NAME (default: the dataset
it was trained on), over the run's own test subset unless --test-limit says otherwise. cifar10 is read from DATA_DIR.
With --json: {"testAccuracy","test","dataset","model","representation","backend"} on one line.`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseFlags(
    argv,
    { dataset: { type: 'string' }, 'test-limit': { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    'eval',
  );
  if (f.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const file = onePositional(positionals, 'eval', 'one artifact file');
  const env = loadEnvOrExit();
  const local = localDataset(f.dataset as string | undefined, env.DATA_DIR);
  const dataset = local.dataset;
  if (dataset !== undefined) {
    const parsed = Dataset.safeParse(dataset);
    if (!parsed.success) throw new CliError(`--dataset: ${parsed.error.issues[0].message}, got "${dataset}"`, 2);
  }
  const choice = (f.backend as string | undefined) ?? env.TFJS_BACKEND;
  if (!BACKEND_CHOICES.includes(choice as BackendChoice)) throw new CliError(`--backend: expected ${BACKEND_CHOICES.join(', ')}, got "${choice}"`, 2);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new CliError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, 2);
  }
  try {
    const backend = await initBackend(choice as BackendChoice, { threads: env.NATIVE_THREADS });
    const r = await evaluateArtifact(bytes, dataset as Parameters<typeof evaluateArtifact>[1], { dataDir: local.dataDir, testLimit: num(f, 'test-limit') });
    const out = { testAccuracy: r.testAccuracy, test: r.test, dataset: dataset ?? r.meta.dataset, model: r.meta.model, representation: r.representation, backend };
    if (f.json) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      process.stdout.write(`test accuracy ${(r.testAccuracy * 100).toFixed(2)}% on ${r.test} ${out.dataset} test images (${r.meta.model}, ${labelOf(r.representation)}, ${backend})\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof RunInputError || e instanceof BackendError) throw new CliError(e.message);
    throw e;
  }
}
