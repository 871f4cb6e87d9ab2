/**
 * `quantlab submit`: queue one experiment on the API. Flags build the request body; the API validates it (the same
 * shared schema), so its problem detail is what the user sees when something is wrong.
 */
import type { JsonBody } from '@quantlab/client';
import { api, body as answer, printJson } from '../api-client.ts';
import { Progress, followRunToEnd, outcomeLine } from '../follow.ts';
import { CliError } from '../cli-error.ts';
import { CONFIG_OPTIONS, defined, num, parseFlags, parseRepr, readJsonFile, trainingFlags } from '../flags.ts';

const USAGE = `usage: quantlab submit --dataset NAME [options]
       quantlab submit --file config.json

  --dataset mnist|fashion-mnist|cifar10|synthetic, or idx:NAME|npz:NAME|folder:NAME under the workers' DATA_DIR
  --model cnn5|mlp|resnet20|vgg-small  --phase training|inference
  --repr REPR       float32, fixed:BITS[:pow2|maxabs|mse][:nearest|stochastic][:fN][:layer|channel], dictionary:BITS[:global|per-layer]
                    [:uniform|nonuniform][:rN][:step|epoch|never][:refit|gradient][:layer|channel], or a JSON object
                    (bitsPerLayer only in JSON)
  --epochs N --batch-size N --lr X --momentum X --weight-decay X --schedule constant|step|cosine --master float32|compact
  --seed N --train-limit N --test-limit N --augment --max-minutes X --quantize-biases
  --name NAME --priority 1..100 --keep
  --idempotency-key KEY   make a retried submit safe (the API replays the first answer)
  --wait            follow the run to its end (a progress bar on a terminal, lines otherwise); exit 0 only if
                    it completed (with --json, a second line: the final run document)
  --json            print the API's response as one JSON line
Talks to QUANTLAB_URL (default http://127.0.0.1:3000) with QUANTLAB_TOKEN.`;

export async function run(argv: string[]): Promise<number> {
  const { values: f } = parseFlags(argv, CONFIG_OPTIONS, 'submit');
  if (f.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  let body: unknown;
  if (typeof f.file === 'string') body = readJsonFile(f.file);
  else {
    if (f.dataset === undefined) throw new CliError('--dataset is required (quantlab submit --help)', 2);
    const reprs = (f.repr as string[] | undefined) ?? [];
    if (reprs.length > 1) throw new CliError('submit takes one --repr (quantlab sweep runs several)', 2);
    const training = trainingFlags(f);
    body = defined({
      name: f.name,
      dataset: f.dataset,
      model: f.model,
      phase: f.phase,
      representation: reprs[0] === undefined ? undefined : parseRepr(reprs[0]),
      quantizeBiases: f['quantize-biases'],
      priority: num(f, 'priority'),
      keep: f.keep,
      training: Object.keys(training).length ? training : undefined,
    });
  }
  const headers = typeof f['idempotency-key'] === 'string' ? { 'idempotency-key': f['idempotency-key'] } : undefined;
  const client = api();
  const res = answer(await client.POST('/experiments', { body: body as JsonBody<'/experiments', 'post'>, headers }));
  if (f.json) printJson(res);
  else process.stdout.write(`${res.id}  ${res.status}  (quantlab status ${res.id})\n`);
  if (!f.wait) return 0;
  const done = await followRunToEnd(client, res.id, { epochLines: false, progress: new Progress() });
  if (f.json) printJson(done);
  else process.stdout.write(outcomeLine(done) + '\n');
  return done.status === 'completed' ? 0 : 1;
}
