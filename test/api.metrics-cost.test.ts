// GET /metrics reads the store's status indexes: the same number of Redis commands whatever the number of runs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { buildApp } from '@quantlab/api';
import { ExperimentConfig, newRunDocument, RUN_STATUSES, RunStore, type RunDocument } from '@quantlab/shared';
import { waitUntil } from './helpers/worker.ts';
import { testEnv } from './helpers/redis.ts';

const env = testEnv('api-metrics-cost');
// Runs exist before the API starts, so its one-off index backfill runs (and is waited for) before any measurement.
const seeder = new Redis(env.REDIS_URL);
await new RunStore(seeder, env.KEY_PREFIX).createMany([newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' }))]);
const app = await buildApp({ env, logger: false });
await app.ready();
await waitUntil('the index backfill', async () => (await seeder.exists(app.ql.runs.keys.indexVersion)) === 1, 10_000);
seeder.disconnect();
after(async () => {
  await app.close();
  await env.cleanup();
});

/**
 * A MONITOR on a raw socket. (ioredis's monitor() flips the connection into monitor mode only after MONITOR's reply
 * has been handled, so on a busy shared Redis a monitored line in the same read as that reply kills it with
 * "Command queue state error".) Yields each command's name and arguments.
 */
async function rawMonitor(url: string, onCommand: (args: string[]) => void): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port || 6379) });
  await once(socket, 'connect');
  let buffered = '';
  socket.setEncoding('utf8');
  const ready = new Promise<void>((resolve) => {
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (line === '+OK') resolve();
        else if (line.startsWith('+')) onCommand([...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]));
      }
    });
  });
  socket.write('MONITOR\r\n');
  await ready;
  return socket;
}

/** Redis commands (those run inside scripts included) that name this test's keys or queue during one GET /metrics. */
async function commandsPerScrape(): Promise<number> {
  const seen: string[] = [];
  const monitor = await rawMonitor(env.REDIS_URL, (args) => {
    if (args.some((a) => a.includes(env.KEY_PREFIX) || a.includes(env.QUEUE_NAME))) seen.push(args[0].toLowerCase());
  });
  try {
    // A sentinel command on each side of the scrape: everything between them is the scrape's.
    await app.ql.redis.get(`${env.KEY_PREFIX}:sentinel:start`);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    await app.ql.redis.get(`${env.KEY_PREFIX}:sentinel:end`);
    const until = Date.now() + 5_000;
    while (!seen.includes('get') || seen.filter((c) => c === 'get').length < 2) {
      if (Date.now() > until) throw new Error('the monitor did not see the sentinels');
      await new Promise((r) => setTimeout(r, 20));
    }
    const start = seen.indexOf('get');
    const end = seen.lastIndexOf('get');
    return end - start - 1;
  } finally {
    monitor.destroy();
  }
}

async function seed(n: number): Promise<void> {
  const config = ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp' });
  const docs: RunDocument[] = Array.from({ length: n }, (_, i) => ({ ...newRunDocument(config), status: RUN_STATUSES[i % RUN_STATUSES.length] }));
  await app.ql.runs.createMany(docs);
}

test('GET /metrics costs the same Redis commands with 5 runs as with 500', async () => {
  await seed(4);
  const small = await commandsPerScrape();
  await seed(495); // 500 runs, 100 of each status
  const large = await commandsPerScrape();
  assert.equal(large, small, `${small} commands with 5 runs, ${large} with 500`);
  assert.ok(small > 0 && small < 40, `a handful of commands (${small})`);
  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const counts = await app.ql.runs.countByStatus();
  assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 500);
  for (const s of RUN_STATUSES) assert.match(body, new RegExp(`^quantlab_runs\\{status="${s}"\\} ${counts[s]}$`, 'm'));
});
