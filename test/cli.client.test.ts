import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

const TOKEN = 'cli-client-token';
const env = testEnv('cli-client', { API_TOKEN: TOKEN });
const app = await buildApp({ env, logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
after(async () => {
  await app.close();
  await env.cleanup();
});

function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['services/cli/bin/quantlab.js', ...args], { env: { ...process.env, QUANTLAB_URL: url, QUANTLAB_TOKEN: TOKEN, ...extraEnv }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const oneLine = (s: string) => {
  const lines = s.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line, got ${JSON.stringify(s)}`);
  return JSON.parse(lines[0]);
};

test('submit --json prints the API response as one line; status and ls show it', async () => {
  const sub = await cli(['submit', '--dataset', 'mnist', '--model', 'mlp', '--repr', 'dictionary:4:nonuniform', '--epochs', '2', '--json']);
  assert.equal(sub.code, 0, sub.stderr);
  const accepted = oneLine(sub.stdout);
  assert.equal(accepted.status, 'queued');
  const doc = await app.ql.runs.get(accepted.id);
  assert.deepEqual(doc?.config.representation, { kind: 'dictionary', bits: 4, init: 'nonuniform', scope: 'global', refine: 0, refitEvery: 'epoch', granularity: 'layer', update: 'refit' });
  assert.equal(doc?.config.training.epochs, 2);

  const [status, statusTable, ls] = await Promise.all([cli(['status', accepted.id, '--json']), cli(['status', accepted.id]), cli(['ls', '--json', '--kind', 'dictionary'])]);
  assert.equal(oneLine(status.stdout).id, accepted.id);
  assert.match(statusTable.stdout, /status\s+queued/);
  assert.match(statusTable.stdout, /mnist mlp dictionary:4 training, 2 epochs/);
  assert.deepEqual(oneLine(ls.stdout).items.map((d: { id: string }) => d.id), [accepted.id]);

  const cancel = await cli(['cancel', accepted.id, '--json']);
  assert.deepEqual(oneLine(cancel.stdout), { id: accepted.id, status: 'cancelled', cancelRequested: false });
  const again = await cli(['cancel', accepted.id]);
  assert.equal(again.code, 1);
  assert.equal(again.stdout, '');
  assert.match(again.stderr, /^quantlab: POST \/experiments\/run_\w+\/cancel: 409 .*already finished.*\n$/);
});

test('sweep: comma lists expand on the API; --preset paper --budget small', async () => {
  const grid = await cli(['sweep', '--dataset', 'mnist', '--model', 'mlp', '--repr', 'fixed:2,4,8:nearest,stochastic', '--repr', 'dictionary:1,2,3,4', '--phase', 'training', '--seeds', '1,2', '--json']);
  assert.equal(grid.code, 0, grid.stderr);
  const g = oneLine(grid.stdout);
  assert.equal(g.runs.length, (6 + 4) * 2 + 2);
  const preset = await cli(['sweep', '--preset', 'paper', '--budget', 'small', '--seeds', '1', '--dataset', 'mnist', '--epochs', '1']);
  assert.equal(preset.code, 0, preset.stderr);
  // 33 float32-master runs and 12 compact-master ones (4 stochastic fixed, 8 global dictionary).
  assert.match(preset.stdout, /^swp_\w+ {2}45 runs queued \(1 float32 baseline first\)/);
  // --master float32,compact varies the master: compact only for the stochastic fixed point and the dictionary.
  const masters = await cli(['sweep', '--dataset', 'mnist', '--repr', 'fixed:4:nearest,stochastic', '--repr', 'dictionary:2', '--phase', 'training', '--master', 'float32,compact', '--json']);
  assert.equal(masters.code, 0, masters.stderr);
  assert.equal(oneLine(masters.stdout).runs.length, 3 + 2 + 1);
  const refused = await cli(['sweep', '--preset', 'paper', '--master', 'compact']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--preset fixes the representations, phases and masters/);
  const ls = await cli(['ls', '--sweeps']);
  assert.match(ls.stdout, /^id\s+status\s+runs/);
  assert.match(ls.stdout, /paper-small/);
});

test('failures: non-zero exit and one line on stderr', async () => {
  const cases: [string[], Record<string, string>, RegExp, number][] = [
    [['submit', '--dataset', 'mnist', '--repr', 'fixed:40'], {}, /^quantlab: POST \/experiments: 400 invalid body at representation\.bits/, 1],
    [['submit', '--dataset', 'mnist', '--epochs', 'many'], {}, /--epochs must be a number/, 2],
    [['status', 'run_doesnotexist'], {}, /404 no experiment with id run_doesnotexist/, 1],
    [['logs', 'run_doesnotexist'], {}, /^quantlab: GET \/experiments\/run_doesnotexist\/events: 404 no experiment with id run_doesnotexist/, 1],
    [['submit', '--dataset', 'mnist', '--lr', '99', '--wait'], {}, /^quantlab: POST \/experiments: 400 /, 1],
    [['ls'], { QUANTLAB_TOKEN: 'wrong' }, /401 .*check QUANTLAB_TOKEN/, 1],
    [['ls'], { QUANTLAB_URL: 'http://127.0.0.1:9' }, /cannot reach the API at http:\/\/127\.0\.0\.1:9/, 1],
    [['sweep', '--preset', 'paper', '--repr', 'fixed:8'], {}, /leave out --repr/, 2],
  ];
  const results = await Promise.all(cases.map(([args, e]) => cli(args, e)));
  results.forEach((r, i) => {
    const [, , re, code] = cases[i];
    assert.equal(r.code, code, `${cases[i][0].join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
  });
});
