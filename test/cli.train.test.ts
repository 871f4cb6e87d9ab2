// `quantlab train` as a user runs it: one JSON line on stdout, exit codes, one-line errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDocument } from '@quantlab/shared';
import { parseRepr } from '@quantlab/cli/flags';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';

const tmp = mkdtempSync(join(tmpdir(), 'quantlab-cli-train-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function quantlab(...args: string[]) {
  const r = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', 'train', ...args], {
    encoding: 'utf8',
    env: { ...process.env, DATA_DIR: tmp, TFJS_BACKEND: TEST_BACKEND },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--json prints exactly one line, a valid RunDocument of the completed run; --artifact writes the model', () => {
  const artifact = join(tmp, 'model.qlab');
  const r = quantlab('--dataset', 'synthetic', '--model', 'mlp', '--repr', 'dictionary:4:per-layer', '--epochs', '2', '--train-limit', '300', '--test-limit', '100', '--seed', '3', '--artifact', artifact, '--json');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 1);
  assert.ok(r.stdout.endsWith('}\n'));
  const doc = RunDocument.parse(JSON.parse(lines[0]));
  assert.equal(doc.status, 'completed');
  assert.deepEqual(doc.config.representation, { kind: 'dictionary', bits: 4, scope: 'per-layer', init: 'uniform', refine: 0, refitEvery: 'epoch', granularity: 'layer', update: 'refit' });
  assert.equal(doc.config.training.seed, 3);
  assert.equal(doc.epochs.length, 2);
  assert.equal(doc.metrics.backend, TEST_BACKEND_NAME);
  assert.equal(doc.series, 'dictionary/per-layer/uniform/r0/epoch/training');
  assert.equal(doc.dataset?.train, 300);
  assert.equal(doc.artifact?.bytes, readFileSync(artifact).length);
  assert.equal(doc.metrics.weightBytes?.compact, doc.artifact?.bytes);
});

test('bad flags: one line on stderr, nothing on stdout, exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['--model', 'mlp'], /--dataset is required/],
    [['--dataset', 'imagenet'], /--dataset/],
    [['--dataset', 'mnist', '--repr', 'fixed:1'], /--repr: bits must be 2\.\.16/],
    [['--dataset', 'mnist', '--repr', 'fixed:8:pow3'], /unknown option "pow3"/],
    [['--dataset', 'mnist', '--repr', 'dictionary:20'], /--repr: .*2\^10/],
    [['--dataset', 'mnist', '--repr', 'fixed:8:maxabs:f4'], /fractionBits is only allowed/],
    [['--dataset', 'mnist', '--epochs', 'many'], /--epochs must be a number/],
    [['--dataset', 'mnist', '--batch-size', '0'], /--batch-size/],
    [['--dataset', 'mnist', '--frobnicate'], /Unknown option/],
    [['--dataset', 'mnist', '--master', 'compact'], /--master: master "compact" needs a compact representation/],
    [['--dataset', 'mnist', '--repr', 'fixed:8', '--master', 'compact'], /--master: .*rounding "stochastic"/],
    [['--dataset', 'mnist', '--master', 'bf16'], /--master: /],
  ];
  for (const [args, message] of cases) {
    const r = quantlab(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});

test('a run that fails (missing CIFAR-10 files) exits 1 with one line naming the file; --json still prints the failed run', () => {
  const r = quantlab('--dataset', 'cifar10', '--model', 'mlp', '--json');
  assert.equal(r.code, 1);
  const doc = RunDocument.parse(JSON.parse(r.stdout));
  assert.equal(doc.status, 'failed');
  assert.match(doc.error!.message, /cifar-10-batches-bin/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /run failed: cifar10: neither/);
});

test('--repr short forms', () => {
  assert.deepEqual(parseRepr('float32'), { kind: 'float32' });
  assert.deepEqual(parseRepr('fixed:8'), { kind: 'fixed', bits: 8 });
  assert.deepEqual(parseRepr('fixed:6:pow2:stochastic:f7'), { kind: 'fixed', bits: 6, range: 'pow2', rounding: 'stochastic', fractionBits: 7 });
  assert.deepEqual(parseRepr('dictionary:4:nonuniform:r5:step:global'), { kind: 'dictionary', bits: 4, init: 'nonuniform', refine: 5, refitEvery: 'step', scope: 'global' });
  assert.deepEqual(parseRepr('fixed:4:mse:channel'), { kind: 'fixed', bits: 4, range: 'mse', granularity: 'channel' });
  assert.deepEqual(parseRepr('dictionary:3:per-layer:channel'), { kind: 'dictionary', bits: 3, scope: 'per-layer', granularity: 'channel' });
  assert.deepEqual(parseRepr('{"kind":"fixed","bits":4}'), { kind: 'fixed', bits: 4 });
  assert.throws(() => parseRepr('fixed:8:nearest:stochastic'), /sets rounding twice/);
});

test('--repr lists (for sweeps) expand inside one token, and float32 takes no options', () => {
  assert.deepEqual(parseRepr('fixed:2,4,8:nearest,stochastic', true), { kind: 'fixed', bits: [2, 4, 8], rounding: ['nearest', 'stochastic'] });
  assert.deepEqual(parseRepr('fixed:4:maxabs,mse,pow2:layer,channel', true), { kind: 'fixed', bits: 4, range: ['maxabs', 'mse', 'pow2'], granularity: ['layer', 'channel'] });
  assert.throws(() => parseRepr('float32:8'), /float32 takes no options/);
  assert.throws(() => parseRepr('dictionary:4:uniform,global', true), /mixes options/);
});

test('the --repr help of train and submit names every short-form option parseRepr accepts', () => {
  const fixed = ['pow2', 'maxabs', 'mse', 'nearest', 'stochastic', 'layer', 'channel'];
  const dictionary = ['global', 'per-layer', 'uniform', 'nonuniform', 'step', 'epoch', 'never', 'refit', 'gradient'];
  // each is a real option (a renamed one would fail here before the help check below)
  for (const t of fixed) assert.doesNotThrow(() => parseRepr(`fixed:4:${t}`), t);
  for (const t of dictionary) assert.doesNotThrow(() => parseRepr(`dictionary:4:${t}`), t);
  for (const command of ['train', 'submit']) {
    const r = spawnSync(process.execPath, ['services/cli/bin/quantlab.js', command, '--help'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const repr = r.stdout.slice(r.stdout.indexOf('--repr'), r.stdout.indexOf('--phase', r.stdout.indexOf('--repr')) + 1 || undefined);
    for (const t of [...fixed, ...dictionary]) assert.match(repr, new RegExp(`[:| ]${t}[\\]|, ]`), `${command} --help: --repr does not name "${t}"`);
  }
});
