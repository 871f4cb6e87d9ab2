// The worker's main thread renews locks and writes results; TF.js lives in the training threads only (their ready
// message carries its version for provenance). Loading the worker's modules must not load TF.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

test('importing the worker and its job processing does not load TF.js in the main thread', () => {
  const code = `
    await import('./services/worker/src/worker.ts');
    await import('./services/worker/src/jobs/run.ts');
    const loaded = '_tfengine' in globalThis;
    await import('@tensorflow/tfjs');
    console.log(JSON.stringify({ before: loaded, after: '_tfengine' in globalThis }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // "after" proves the probe sees TF.js when it is loaded.
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { before: false, after: true });
});
