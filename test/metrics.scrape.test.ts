// Issue 21: Prometheus metrics from prom-client. A worker serves its own on METRICS_HOST:METRICS_PORT (off when unset);
// the API's are on GET /metrics. Both are scraped over HTTP around a real (tiny) training run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { lockKeyOf, parseEnv, type RunDocument } from '@quantlab/shared';
import { buildApp } from '@quantlab/api/app';
import { startWorker, type RunningWorker } from '@quantlab/worker';
import { testEnv } from './helpers/redis.ts';
import { waitUntil } from './helpers/worker.ts';

const env = testEnv('metrics-scrape', { TFJS_BACKEND: 'wasm', METRICS_PORT: '0', API_TOKEN: 'metrics-test-token' });
const auth = { authorization: 'Bearer metrics-test-token' };
let app: FastifyInstance;
let worker: RunningWorker;

before(async () => {
  app = await buildApp({ env, logger: false });
  worker = await startWorker(env);
});

after(async () => {
  await worker?.close();
  await app?.close();
  await env.cleanup();
});

/** The value of one sample, by its exact name and label set as printed. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no sample ${series} in:\n${text.split('\n').filter((l) => l.startsWith(series.split('{')[0])).join('\n')}`);
  return Number(line.slice(series.length + 1));
}

async function scrapeWorker(): Promise<string> {
  assert.ok(worker.metricsUrl, 'METRICS_PORT is set, so the worker serves metrics');
  const res = await fetch(worker.metricsUrl);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

test('a worker serves zero-filled metrics from the start, bound to 127.0.0.1 by default', async () => {
  assert.match(worker.metricsUrl!, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const text = await scrapeWorker();
  // Histograms and counters exist before the first epoch, so rate() and histogram_quantile() have series to read.
  assert.equal(sample(text, 'quantlab_epoch_duration_seconds_count{backend="wasm"}'), 0);
  assert.equal(sample(text, 'quantlab_epoch_duration_seconds_bucket{le="+Inf",backend="wasm"}'), 0);
  assert.equal(sample(text, 'quantlab_epoch_images_per_second_count{backend="wasm"}'), 0);
  for (const rep of ['float32', 'fixed', 'dictionary']) assert.equal(sample(text, `quantlab_runs_completed_total{representation="${rep}"}`), 0);
  assert.equal(sample(text, 'quantlab_fenced_write_rejections_total'), 0);
  assert.equal(sample(text, 'quantlab_checkpoint_writes_total'), 0);
  assert.equal(sample(text, 'quantlab_queue_jobs{state="waiting"}'), 0);
  assert.equal(sample(text, 'quantlab_redis_up'), 1);
  // prom-client's default metrics under their standard, unprefixed names.
  assert.ok(sample(text, 'process_cpu_seconds_total') > 0);
  assert.match(text, /^nodejs_eventloop_lag_seconds \d/m);
  const health = await fetch(worker.metricsUrl!.replace(/metrics$/, 'healthz'));
  assert.equal(health.status, 200);
});

test('after a 2-epoch run the worker counts it, its epochs and checkpoints; the API shows queue depth and runs by status', { timeout: 120_000 }, async () => {
  // A waiting job first (the worker trains one at a time): the queue depth is visible on both scrape targets.
  const post = (name: string, priority?: number) =>
    app.inject({
      method: 'POST',
      url: '/experiments',
      headers: auth,
      payload: { name, dataset: 'mnist', model: 'mlp', priority, representation: { kind: 'fixed', bits: 8 }, training: { epochs: 2, trainLimit: 300, testLimit: 200, batchSize: 50 } },
    });
  const a = await post('metrics a');
  const b = await post('metrics b', 10);
  assert.equal(a.statusCode, 202);
  assert.equal(b.statusCode, 202);
  const ids = [a.json().id as string, b.json().id as string];
  const api = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: auth });
    assert.equal(res.statusCode, 200);
    return res.body;
  };
  /** Commands the API's store connection sends for one scrape (counted as they are sent). */
  let sent = 0;
  const send = app.ql.redis.sendCommand.bind(app.ql.redis);
  app.ql.redis.sendCommand = ((...args: Parameters<typeof send>) => {
    sent++;
    return send(...args);
  }) as typeof send;
  // The fewest of three scrapes: other work of the app (its start-up backfill) may send a command meanwhile.
  const commandsPerScrape = async () => {
    const counts = [];
    for (let i = 0; i < 3; i++) {
      const before = sent;
      await api();
      counts.push(sent - before);
    }
    return Math.min(...counts);
  };
  const commandsEarly = await commandsPerScrape();
  // Both submitted runs are somewhere in the queue (waiting, prioritized or active) until the worker finishes them.
  const early = await api();
  const inQueue = ['waiting', 'prioritized', 'active'].reduce((n, s) => n + sample(early, `quantlab_queue_jobs{state="${s}"}`), 0);
  assert.ok(inQueue >= 1, early);
  assert.equal(sample(early, 'quantlab_worker_slots_wanted'), inQueue);

  await waitUntil(
    'both runs complete',
    async () => {
      const docs = (await Promise.all(ids.map((id) => app.inject({ method: 'GET', url: `/experiments/${id}`, headers: auth })))).map((r) => r.json() as RunDocument);
      const bad = docs.find((d) => d.status === 'failed' || d.status === 'cancelled');
      if (bad) throw new Error(`run ${bad.status}: ${bad.error?.message}`);
      return docs.every((d) => d.status === 'completed');
    },
    100_000,
    200,
  );

  // The worker counts a run and BullMQ moves its job to completed just after the run document says completed.
  let text = '';
  await waitUntil(
    'the worker counts both completions',
    async () => {
      text = await scrapeWorker();
      return sample(text, 'quantlab_runs_completed_total{representation="fixed"}') === 2 && sample(text, 'quantlab_queue_jobs{state="completed"}') === 2;
    },
    10_000,
    100,
  );
  assert.equal(sample(text, 'quantlab_runs_started_total{representation="fixed"}'), 2);
  assert.equal(sample(text, 'quantlab_runs_completed_total{representation="fixed"}'), 2);
  assert.equal(sample(text, 'quantlab_runs_failed_total{representation="fixed"}'), 0);
  assert.equal(sample(text, 'quantlab_epoch_duration_seconds_count{backend="wasm"}'), 4);
  assert.ok(sample(text, 'quantlab_epoch_duration_seconds_sum{backend="wasm"}') > 0);
  assert.equal(sample(text, 'quantlab_epoch_images_per_second_count{backend="wasm"}'), 4);
  assert.equal(sample(text, 'quantlab_checkpoint_writes_total'), 4);
  assert.ok(sample(text, 'quantlab_checkpoint_bytes_total') > 4 * 1000);
  assert.equal(sample(text, 'quantlab_queue_jobs{state="completed"}'), 2);
  assert.equal(sample(text, 'quantlab_queue_pending'), 0);
  assert.equal(sample(text, 'quantlab_worker_busy_slots'), 0);
  // Every fenced write is an EVALSHA on the worker's connection.
  assert.ok(sample(text, 'quantlab_redis_command_duration_seconds_count{command="evalsha"}') >= 8);

  const apiText = await api();
  // Counting runs by status costs the same number of Redis commands whatever the number of runs.
  assert.equal(await commandsPerScrape(), commandsEarly);
  assert.ok(commandsEarly > 0 && commandsEarly <= 8, `${commandsEarly} commands per scrape`);
  assert.equal(sample(apiText, 'quantlab_queue_jobs{state="completed"}'), 2);
  assert.equal(sample(apiText, 'quantlab_queue_jobs{state="waiting"}'), 0);
  assert.equal(sample(apiText, 'quantlab_runs{status="completed"}'), 2);
  assert.equal(sample(apiText, 'quantlab_runs{status="queued"}'), 0);
  assert.ok(sample(apiText, 'quantlab_http_request_duration_seconds_count{method="POST",route="/experiments",status="202"}') >= 2);
  // Zero-filled for routes not called yet.
  assert.equal(sample(apiText, 'quantlab_http_request_duration_seconds_count{method="GET",route="/sweeps/:id",status="200"}'), 0);
  assert.ok(sample(apiText, 'process_resident_memory_bytes') > 0);
  assert.ok(sample(apiText, 'quantlab_redis_command_duration_seconds_count{command="hgetall"}') >= 1);
});

test('/metrics of the API needs the token; METRICS_PORT and METRICS_HOST are checked at start', async () => {
  assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  assert.equal(parseEnv({}).METRICS_PORT, undefined);
  assert.equal(parseEnv({ METRICS_PORT: '' }).METRICS_PORT, undefined);
  assert.equal(parseEnv({ METRICS_PORT: '65535' }).METRICS_PORT, 65535);
  assert.equal(parseEnv({}).METRICS_HOST, '127.0.0.1');
  assert.equal(parseEnv({}).ADMIN_QUEUES_WRITE, false);
  assert.equal(parseEnv({ ADMIN_QUEUES_WRITE: 'true' }).ADMIN_QUEUES_WRITE, true);
  assert.throws(() => parseEnv({ ADMIN_QUEUES_WRITE: 'yes please' }), /ADMIN_QUEUES_WRITE/);
  assert.throws(() => parseEnv({ METRICS_PORT: '65536' }), /METRICS_PORT/);
  assert.throws(() => parseEnv({ METRICS_PORT: 'nine' }), /METRICS_PORT/);
});

test('every series the Grafana dashboard (deploy/grafana/quantlab.json) draws is exported by a worker or the API', async () => {
  const dashboard = JSON.parse(readFileSync('deploy/grafana/quantlab.json', 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  const exported = new Set(
    [await scrapeWorker(), (await app.inject({ method: 'GET', url: '/metrics', headers: auth })).body]
      .flatMap((t) => t.split('\n'))
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/[{ ]/)[0]),
  );
  const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b((?:quantlab|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]))));
  assert.ok(used.size >= 15, [...used].join(' '));
  for (const name of used) assert.ok(exported.has(name), `the dashboard draws ${name}, which nothing exports`);
  assert.ok(dashboard.panels.length >= 10);
});

test('a worker that lost its job lock counts the refused write', { timeout: 90_000 }, async () => {
  const res = await app.inject({
    method: 'POST',
    url: '/experiments',
    headers: auth,
    payload: { name: 'metrics fence', dataset: 'mnist', model: 'mlp', training: { epochs: 20, trainLimit: 300, testLimit: 100, batchSize: 50 } },
  });
  assert.equal(res.statusCode, 202);
  const id = res.json().id as string;
  const epochs = async () => ((await app.inject({ method: 'GET', url: `/experiments/${id}`, headers: auth })).json() as RunDocument).epochs.length;
  await waitUntil('the first epoch', async () => (await epochs()) >= 1, 60_000, 100);
  // Another worker "took" the job: its lock now holds someone else's token, so this worker's next write is refused.
  await app.ql.redis.set(lockKeyOf(env, id), 'someone-else', 'PX', 60_000);
  await waitUntil('the rejection is counted', async () => sample(await scrapeWorker(), 'quantlab_fenced_write_rejections_total') >= 1, 30_000, 200);
  await app.ql.redis.del(lockKeyOf(env, id));
  await app.inject({ method: 'DELETE', url: `/experiments/${id}`, headers: auth });
});
