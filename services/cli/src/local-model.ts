/**
 * `quantlab train --model-file path/to/model.json`: a TF.js Layers model read from files (its weight shards beside
 * model.json, as tensorflowjs_converter and model.save() write them), imported as POST /models imports it, without
 * Redis. Its id is derived from the bytes (mdl_ + 24 hex digits of their sha256): the same files are the same model,
 * so a config's identity names them.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { importLayersModel, ModelImportError, parseModelJson, shardNames } from '@quantlab/shared/models/tfjs-layers';
import type { UploadedModel } from '@quantlab/ml/training/types';
import { CliError } from './cli-error.ts';

export async function localModel(path: string): Promise<{ id: string; model: UploadedModel }> {
  const fail = (what: string) => new CliError(`--model-file ${path}: ${what}`, 2);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw fail((e as Error).message);
  }
  const hash = createHash('sha256').update(text);
  try {
    const json = parseModelJson(text);
    const files = new Map<string, Uint8Array>();
    for (const name of shardNames(json)) {
      let bytes: Buffer;
      try {
        bytes = await readFile(join(dirname(path), name));
      } catch {
        throw fail(`shard "${name}" (named in weightsManifest) is not beside it`);
      }
      files.set(name, bytes);
      hash.update(bytes);
    }
    const m = importLayersModel(json, { files });
    return { id: `mdl_${hash.digest('hex').slice(0, 24)}`, model: { graph: m.graph, params: m.params, weights: m.weights, classes: m.numClasses } };
  } catch (e) {
    if (e instanceof ModelImportError) throw fail(e.message);
    throw e;
  }
}
