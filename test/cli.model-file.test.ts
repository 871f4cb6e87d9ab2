// `quantlab train --model-file path/to/model.json` (shards beside it): the Functional model trains locally at
// fixed:8 with no Redis reachable, its id is derived from the files, its artifact evaluates with `quantlab eval`; a
// broken file is one line on stderr and exit 2.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDocument } from '@quantlab/shared';
import { initBackend } from '@quantlab/ml';
import { TEST_BACKEND } from './helpers/backend.ts';
import { residualModel, saveLayersModel, type SavedLayersModel } from './helpers/layers-model.ts';

const tmp = mkdtempSync(join(tmpdir(), 'quantlab-cli-model-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let saved: SavedLayersModel;

/** model.json and its shards in a folder of their own, as the converter writes them. */
function writeModel(dir: string, json: object, files: Map<string, Uint8Array>): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
  return join(dir, 'model.json');
}

before(async () => {
  await initBackend('wasm');
  const source = residualModel(9);
  saved = await saveLayersModel(source, 2);
  source.dispose();
});

function quantlab(...args: string[]) {
  // No Redis: a port nothing listens on.
  const r = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, DATA_DIR: tmp, TFJS_BACKEND: TEST_BACKEND, REDIS_URL: 'redis://127.0.0.1:1' },
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--model-file trains the uploaded-style model without Redis; the same files give the same id; quantlab eval agrees', () => {
  const path = writeModel(join(tmp, 'residual'), saved.modelJson, saved.files);
  const artifact = join(tmp, 'residual.qlab');
  const args = ['train', '--dataset', 'mnist', '--model-file', path, '--repr', 'fixed:8', '--epochs', '1', '--train-limit', '300', '--test-limit', '100', '--batch-size', '50', '--lr', '0.01', '--json'];
  const r = quantlab(...args, '--artifact', artifact);
  assert.equal(r.code, 0, r.stderr);
  const doc = RunDocument.parse(JSON.parse(r.stdout));
  assert.equal(doc.status, 'completed');
  assert.match(doc.config.model, /^mdl_[0-9a-f]{24}$/);
  assert.equal(doc.epochs.length, 1);
  assert.ok(doc.metrics.testAccuracy! > 0.1, `above chance (10 classes) after one epoch of 300 images: ${doc.metrics.testAccuracy}`);
  const copy = writeModel(join(tmp, 'copy'), saved.modelJson, saved.files);
  const again = quantlab('train', '--dataset', 'mnist', '--model-file', copy, '--phase', 'inference', '--test-limit', '100', '--train-limit', '300', '--json');
  assert.equal(again.code, 0, again.stderr);
  const inference = RunDocument.parse(JSON.parse(again.stdout));
  assert.equal(inference.config.model, doc.config.model, 'the id names the bytes, not the path');
  assert.deepEqual(inference.epochs, [], 'the inference phase quantizes the pretrained weights without training');
  const evaluated = quantlab('eval', artifact, '--json');
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.equal((JSON.parse(evaluated.stdout) as { testAccuracy: number }).testAccuracy, doc.metrics.testAccuracy);
});

test('a broken model file: one line on stderr naming the file and the problem, exit 2', () => {
  const shards = [...saved.files.keys()];
  const missing = writeModel(join(tmp, 'missing'), saved.modelJson, new Map([[shards[0], saved.files.get(shards[0])!]]));
  const unsupported = structuredClone(saved.modelJson);
  (unsupported.modelTopology as { config: { layers: { name: string; class_name: string }[] } }).config.layers.find((l) => l.name === 'pool')!.class_name = 'MaxPooling3D';
  const cases: [string, RegExp][] = [
    [join(tmp, 'nowhere', 'model.json'), /--model-file .*nowhere\/model.json: ENOENT/],
    [missing, new RegExp(`--model-file .*: shard "${shards[1]}" \\(named in weightsManifest\\) is not beside it`)],
    [writeModel(join(tmp, 'unsupported'), unsupported, saved.files), /--model-file .*: layer pool has class MaxPooling3D, which is not supported/],
  ];
  for (const [path, message] of cases) {
    const r = quantlab('train', '--dataset', 'mnist', '--model-file', path);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
  const both = quantlab('train', '--dataset', 'mnist', '--model', 'mlp', '--model-file', missing);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--model and --model-file exclude each other/);
});
