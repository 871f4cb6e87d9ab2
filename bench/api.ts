/**
 * API throughput on loopback with autocannon: GET /experiments/:id and POST /experiments with distinct bodies,
 * against an app with rate limits off and a private queue (its own KEY_PREFIX and QUEUE_NAME) that no worker drains.
 * The API runs in a child process so that autocannon and the server do not share one core's event loop.
 * Keys are deleted at the end.
 *
 *   node --import tsx bench/api.ts [--duration 10] [--connections 64] [--pipelining 1] [--validate-responses]
 *
 * --validate-responses encodes every response through its zod schema, as buildApp does by default (tests).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { parseEnv } from '@quantlab/shared';
import { deleteByPrefix } from '../test/helpers/redis.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    pipelining: { type: 'string', default: '1' },
    serve: { type: 'boolean' },
    'validate-responses': { type: 'boolean' },
  },
});

const tag = `bench-${randomBytes(3).toString('hex')}`;
const benchEnv = {
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  KEY_PREFIX: `qlbench:${tag}`,
  QUEUE_NAME: `q-${tag}`,
  RATE_LIMIT_MAX: '0',
  LOG_LEVEL: 'silent',
  HOST: '127.0.0.1',
  PORT: '0',
};

if (values.serve) {
  // Child: the API alone, reporting its port on stdout.
  const { buildApp } = await import('@quantlab/api');
  // As server.ts runs it (response validation off; the tests keep it on).
  const app = await buildApp({ env: parseEnv(process.env), logger: false, validateResponses: Boolean(values['validate-responses']) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${(app.server.address() as { port: number }).port}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
} else {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/api.ts', '--serve', ...(values['validate-responses'] ? ['--validate-responses'] : [])], { env: { ...process.env, ...benchEnv }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`the API exited (${code})`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const pipelining = Number(values.pipelining);

  try {
    const first = await fetch(`${base}/experiments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataset: 'mnist', model: 'mlp', name: 'bench-target' }) });
    const { id } = (await first.json()) as { id: string };

    const run = (title: string, opts: Partial<autocannon.Options>) =>
      new Promise<autocannon.Result>((resolve, reject) => {
        autocannon({ url: base, duration, connections, pipelining, ...opts, title }, (err, res) => (err ? reject(err) : resolve(res)));
      });

    const get = await run('GET /experiments/:id', { method: 'GET', url: `${base}/experiments/${id}` });
    let n = 0;
    const post = await run('POST /experiments', {
      requests: [
        {
          method: 'POST',
          path: '/experiments',
          headers: { 'content-type': 'application/json' },
          // Distinct bodies: every request queues a run of its own.
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ dataset: 'mnist', model: 'mlp', name: `bench-${n++}`, training: { seed: n % 1000 } }) }),
        },
      ],
    });
    const stored = await (await fetch(`${base}/healthz`)).json();

    const row = (r: autocannon.Result, target: number) => ({
      endpoint: r.title,
      'req/s (mean)': Math.round(r.requests.average),
      target,
      'p50 ms': r.latency.p50,
      'p99 ms': r.latency.p99,
      ok: r['2xx'],
      'non-2xx': r.non2xx,
      errors: r.errors + r.timeouts,
    });
    console.log(`quantlab API on loopback, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), shared machine; ${duration}s each, ${connections} connections, pipelining ${pipelining}, response validation ${values['validate-responses'] ? 'on' : 'off (as server.ts)'}`);
    console.table([row(get, 10_000), row(post, 2_000)]);
    console.log(`queue after the POST run: ${JSON.stringify(stored.queue)}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await deleteByPrefix(benchEnv.KEY_PREFIX);
  }
}
