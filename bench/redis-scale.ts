// How many workers one Redis carries: N simulated workers (real BullMQ workers running the real run handler with its
// fenced writes, checkpoints, registry heartbeats and cancel polls; the training step replaced by a timed sleep per
// synthetic epoch) drain a queue of queued runs on a redis-server of the bench's own, pinned to one core.
//   node --import tsx bench/redis-scale.ts [--workers 1,10,50,200] [--runs 10000] [--epochs 2] [--epoch-ms 100]
//        [--window 20] [--procs 4] [--redis-core 1] [--worker-cores 0] [--checkpoint-bytes 4096] [--json]
// Reports per N: runs/s completed, CPU of Redis and of the worker processes (cores), Redis commands/s (INFO's
// total_commands_processed: commands inside Lua scripts included), p50/p99 of a job fetch (BullMQ's moveToFinished,
// which completes a job and fetches the next in one script; with a full queue that is every fetch) and of a fenced
// write (RunStore's Lua script), seen from the worker. docs/SCALING.md has the results and what they mean.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Job, Worker } from 'bullmq';
import { createRunQueue, ExperimentConfig, newRunDocument, newId, parseEnv, producerConnection, RunStore, type Env, type EpochMetrics } from '@quantlab/shared';
import type { TrainInput, TrainOutcome } from '@quantlab/ml/training/types';
import { startWorker, type RunningWorker } from '@quantlab/worker';
import type { StopFlag, ThreadRuntime, Trainer, TrainCallbacks } from '../services/worker/src/threads/pool.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,10,50,200' },
    runs: { type: 'string', default: '10000' },
    epochs: { type: 'string', default: '2' },
    'epoch-ms': { type: 'string', default: '100' },
    window: { type: 'string', default: '20' },
    procs: { type: 'string', default: '4' },
    'redis-core': { type: 'string', default: '1' },
    /** Cores for the worker processes (taskset list); default: every core but Redis's. */
    'worker-cores': { type: 'string' },
    'checkpoint-bytes': { type: 'string', default: '4096' },
    idle: { type: 'string', default: '6' },
    'big-checkpoint': { type: 'string', default: '1228800' },
    child: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

// ---- latency histograms that merge across processes: log buckets of 2% from 1 µs ----
const RATIO = 1.02;
const MIN_S = 1e-6;
const bucketOf = (s: number) => Math.max(0, Math.floor(Math.log(Math.max(s, MIN_S) / MIN_S) / Math.log(RATIO)));
type Hist = Record<number, number>;
function observe(h: Hist, seconds: number): void {
  const b = bucketOf(seconds);
  h[b] = (h[b] ?? 0) + 1;
}
function merge(into: Hist, from: Hist): void {
  for (const [b, n] of Object.entries(from)) into[Number(b)] = (into[Number(b)] ?? 0) + n;
}
function quantile(h: Hist, q: number): number | null {
  const entries = Object.entries(h).map(([b, n]) => [Number(b), n] as const).sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return null;
  let seen = 0;
  for (const [b, n] of entries) {
    seen += n;
    if (seen >= q * total) return MIN_S * RATIO ** (b + 0.5);
  }
  return null;
}
const count = (h: Hist) => Object.values(h).reduce((s, n) => s + n, 0);

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- child: `count` workers in this process ----
interface ChildStats {
  completed: number;
  fetch: Hist;
  activate: Hist;
  fenced: Hist;
}

/** Training replaced by a sleep per epoch; the epochs, checkpoints and artifact go through the real handler. */
class SimulatedTrainer implements Trainer {
  constructor(
    private readonly epochMs: number,
    private readonly checkpoint: Uint8Array,
  ) {}
  async ready(): Promise<ThreadRuntime> {
    return { backend: 'simulated', tfjsVersion: 'none' };
  }
  async train(input: TrainInput, stop: StopFlag, cb: TrainCallbacks): Promise<TrainOutcome> {
    const epochs: EpochMetrics[] = [];
    const total = input.config.training.epochs;
    const dataset = { name: input.config.dataset, train: 1000, test: 100, inputShape: [28, 28, 1], split: 'simulated' };
    for (let e = 1; e <= total; e++) {
      await sleep(this.epochMs / 2);
      await cb.onProgress({ epoch: e, epochs: total, fraction: (e - 0.5) / total } as Parameters<TrainCallbacks['onProgress']>[0]);
      await sleep(this.epochMs / 2);
      if (stop.isSet) return { status: 'shutdown', metrics: metrics(), epochs, dataset, artifact: null };
      const epoch: EpochMetrics = { epoch: e, trainLoss: 1 / e, trainAccuracy: 0.9, testAccuracy: 0.9, durationMs: this.epochMs, imagesPerSec: 10_000 };
      epochs.push(epoch);
      await cb.onEpoch(epoch, this.checkpoint);
    }
    return { status: 'completed', metrics: metrics(), epochs, dataset, artifact: this.checkpoint.subarray(0, 2048) };
  }
  async close(): Promise<void> {}
}
const metrics = () => ({ testAccuracy: 0.9, trainLoss: 0.1, durationMs: 1, backend: 'simulated' });

async function child(): Promise<void> {
  const env = parseEnv({ ...process.env, LOG_LEVEL: 'silent' });
  const n = Number(process.env.BENCH_WORKERS);
  const stats: ChildStats = { completed: 0, fetch: {}, activate: {}, fenced: {} };
  let measuring = false;

  // Time BullMQ's fetches and the store's fenced writes where they happen (this process only: a bench).
  const wrap = <T extends object>(proto: T, name: string, hist: () => Hist, when: (args: unknown[]) => boolean = () => true) => {
    const orig = (proto as Record<string, (...a: unknown[]) => Promise<unknown>>)[name];
    (proto as Record<string, unknown>)[name] = async function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return await orig.apply(this, args);
      } finally {
        if (measuring && when(args)) observe(hist(), (performance.now() - t0) / 1000);
      }
    };
  };
  wrap(Job.prototype, 'moveToCompleted', () => stats.fetch, (args) => args[2] !== false);
  let completedAll = 0;
  const timedComplete = Job.prototype.moveToCompleted;
  Job.prototype.moveToCompleted = async function (this: Job, ...args: Parameters<Job['moveToCompleted']>) {
    const r = await timedComplete.apply(this, args);
    completedAll++;
    return r;
  };
  wrap(Worker.prototype, 'moveToActive', () => stats.activate);
  wrap(RunStore.prototype, 'fenced', () => stats.fenced);

  const checkpoint = new Uint8Array(Number(process.env.BENCH_CHECKPOINT_BYTES)).map((_, i) => i & 0xff);
  const workers: RunningWorker[] = [];
  for (let i = 0; i < n; i++) {
    const w = await startWorker(env, { pool: new SimulatedTrainer(Number(process.env.BENCH_EPOCH_MS), checkpoint), heartbeatMs: 5_000 });
    workers.push(w);
  }
  const completedNow = () => completedAll;
  let base = 0;
  process.on('message', (m: { type: string }) => {
    if (m.type === 'start') {
      base = completedNow();
      stats.fetch = {};
      stats.activate = {};
      stats.fenced = {};
      measuring = true;
    } else if (m.type === 'progress') {
      process.send!({ type: 'progress', completed: completedNow() - base });
    } else if (m.type === 'stop') {
      measuring = false;
      stats.completed = completedNow() - base;
      process.send!({ type: 'stats', stats });
    } else if (m.type === 'exit') {
      // Hard stop: the remaining queue is thrown away with the bench's Redis.
      process.exit(0);
    }
  });
  process.send!({ type: 'ready' });
}

// ---- coordinator ----
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(core: string): Promise<{ url: string; pid: number; proc: ChildProcess; dir: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ql-redis-scale-'));
  // As in production: append-only, fsync every second; one core, like a Redis in a pod with cpu: 1.
  const proc = spawn('taskset', ['-c', core, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir, '--maxclients', '10000', '--maxmemory-policy', 'noeviction'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {}); // not up yet
    const ok = await r.connect().then(() => r.ping(), () => null);
    r.disconnect();
    if (ok === 'PONG') return { url, pid: proc.pid!, proc, dir };
    await sleep(100);
  }
  throw new Error('redis-server did not start (is it installed? apt-get install redis-server)');
}

function info(text: string, key: string): number {
  const m = new RegExp(`^${key}:(\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

interface StepResult {
  workers: number;
  processes: number;
  seconds: number;
  completed: number;
  runsPerSec: number;
  redisCores: number;
  workerCores: number;
  redisOpsPerSec: number;
  fetchP50Ms: number | null;
  fetchP99Ms: number | null;
  activateP50Ms: number | null;
  activateP99Ms: number | null;
  fencedP50Ms: number | null;
  fencedP99Ms: number | null;
  fencedWrites: number;
  perRunCommands: number;
  perRunRedisCpuMs: number;
  perRunWorkerCpuMs: number;
  idleRedisCores: number;
  idleCmdPerSec: number;
  drained: boolean;
}

interface StepOptions {
  runs: number;
  epochs: number;
  epochMs: number;
  window: number;
  procs: number;
  checkpointBytes: number;
  idle: number;
}

async function step(redisUrl: string, redisPid: number, n: number, opts: StepOptions): Promise<StepResult> {
  const tag = `n${n}`;
  const env: Env = parseEnv({ REDIS_URL: redisUrl, KEY_PREFIX: `scale:${tag}`, QUEUE_NAME: `scale-${tag}`, LOG_LEVEL: 'silent' });
  const admin = new Redis(redisUrl);
  await admin.flushall(); // the bench's own Redis, never the shared one

  // Queue the runs as POST /experiments does: documents first, then jobs with the run's priority (prioritized set).
  const config = ExperimentConfig.parse({ name: 'scale', dataset: 'synthetic', model: 'mlp', training: { epochs: opts.epochs } });
  const producer = producerConnection(redisUrl);
  const store = new RunStore(producer, env.KEY_PREFIX);
  const qconn = producerConnection(redisUrl);
  const queue = createRunQueue(env, qconn);
  for (let i = 0; i < opts.runs; i += 500) {
    const docs = Array.from({ length: Math.min(500, opts.runs - i) }, () => newRunDocument(config, { id: newId('run') }));
    await store.createMany(docs);
    await queue.addBulk(docs.map((d) => ({ name: 'run' as const, data: { runId: d.id, config, baselineId: null }, opts: { jobId: d.id, priority: config.priority } })));
  }

  // Pause the queue while the workers start, so every N begins with the same full queue.
  await queue.pause();
  const procs = Math.min(n, opts.procs);
  const children: ChildProcess[] = [];
  const here = fileURLToPath(import.meta.url);
  const waitFor = (c: ChildProcess, type: string) => new Promise<any>((resolve, reject) => {
    const on = (m: { type: string }) => {
      if (m.type === type) {
        c.off('message', on);
        resolve(m);
      }
    };
    c.on('message', on);
    c.once('exit', (code) => reject(new Error(`bench child exited (${code}) waiting for ${type}`)));
  });
  for (let p = 0; p < procs; p++) {
    const share = Math.floor(n / procs) + (p < n % procs ? 1 : 0);
    // Workers on the cores Redis does not have (unless told otherwise).
    const others = values['worker-cores'] ?? (cpus().map((_, i) => i).filter((i) => String(i) !== values['redis-core']).join(',') || '0');
    const c = spawn('taskset', ['-c', others, process.execPath, '--import', 'tsx', here, '--child'], {
      env: { ...process.env, REDIS_URL: redisUrl, KEY_PREFIX: env.KEY_PREFIX, QUEUE_NAME: env.QUEUE_NAME, BENCH_WORKERS: String(share), BENCH_EPOCH_MS: String(opts.epochMs), BENCH_CHECKPOINT_BYTES: String(opts.checkpointBytes) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(c);
  }
  await Promise.all(children.map((c) => waitFor(c, 'ready')));
  const pids = children.map((c) => c.pid!); // taskset execs node: the pid is node's

  // Idle: N connected workers and no job to take (the queue is paused). What workers cost Redis by just being there
  // (blocking fetches, registry heartbeats, stalled-job checks): the floor under any real deployment.
  await sleep(1_000);
  const idle0 = { redis: cpuSeconds(redisPid), cmd: info(await admin.info('stats'), 'total_commands_processed'), t: performance.now() };
  await sleep(opts.idle * 1000);
  const idleSeconds = (performance.now() - idle0.t) / 1000;
  const idleRedisCores = (cpuSeconds(redisPid) - idle0.redis) / idleSeconds;
  const idleCmdPerSec = (info(await admin.info('stats'), 'total_commands_processed') - idle0.cmd) / idleSeconds;

  await queue.resume();
  await sleep(2_000); // warm-up: every worker has fetched a job
  const cpu0 = { redis: cpuSeconds(redisPid), workers: pids.reduce((s, p) => s + cpuSeconds(p), 0) };
  const cmd0 = info(await admin.info('stats'), 'total_commands_processed');
  for (const c of children) c.send({ type: 'start' });
  const t0 = performance.now();
  let drained = false;
  while ((performance.now() - t0) / 1000 < opts.window) {
    await sleep(500);
    const c = await queue.getJobCounts('waiting', 'prioritized', 'active');
    if ((c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0) === 0) {
      drained = true;
      break;
    }
  }
  const stats = await Promise.all(children.map((c) => { const p = waitFor(c, 'stats'); c.send({ type: 'stop' }); return p; }));
  const seconds = (performance.now() - t0) / 1000;
  const cmd1 = info(await admin.info('stats'), 'total_commands_processed');
  const cpu1 = { redis: cpuSeconds(redisPid), workers: pids.reduce((s, p) => s + cpuSeconds(p), 0) };
  for (const c of children) c.send({ type: 'exit' });
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  await queue.close();
  qconn.disconnect();
  producer.disconnect();
  admin.disconnect();

  const all: ChildStats = { completed: 0, fetch: {}, activate: {}, fenced: {} };
  for (const { stats: s } of stats as { stats: ChildStats }[]) {
    all.completed += s.completed;
    merge(all.fetch, s.fetch);
    merge(all.activate, s.activate);
    merge(all.fenced, s.fenced);
  }
  const ms = (v: number | null) => (v === null ? null : v * 1000);
  return {
    workers: n,
    processes: procs,
    seconds,
    completed: all.completed,
    runsPerSec: all.completed / seconds,
    redisCores: (cpu1.redis - cpu0.redis) / seconds,
    workerCores: (cpu1.workers - cpu0.workers) / seconds,
    redisOpsPerSec: (cmd1 - cmd0) / seconds,
    fetchP50Ms: ms(quantile(all.fetch, 0.5)),
    fetchP99Ms: ms(quantile(all.fetch, 0.99)),
    activateP50Ms: ms(quantile(all.activate, 0.5)),
    activateP99Ms: ms(quantile(all.activate, 0.99)),
    fencedP50Ms: ms(quantile(all.fenced, 0.5)),
    fencedP99Ms: ms(quantile(all.fenced, 0.99)),
    fencedWrites: count(all.fenced),
    perRunCommands: all.completed ? (cmd1 - cmd0) / all.completed : NaN,
    perRunRedisCpuMs: all.completed ? ((cpu1.redis - cpu0.redis) * 1000) / all.completed : NaN,
    perRunWorkerCpuMs: all.completed ? ((cpu1.workers - cpu0.workers) * 1000) / all.completed : NaN,
    idleRedisCores,
    idleCmdPerSec,
    drained,
  };
}

/** A cnn5-sized checkpoint (8 bytes a parameter: 1.2 MB) through the real fenced write: Redis's CPU and the latency. */
async function bigCheckpoints(redisUrl: string, redisPid: number, bytes: number, count = 200) {
  const env = parseEnv({ REDIS_URL: redisUrl, KEY_PREFIX: 'scale:big', QUEUE_NAME: 'scale-big' });
  const redis = producerConnection(redisUrl);
  const store = new RunStore(redis, env.KEY_PREFIX);
  const payload = new Uint8Array(bytes).map((_, i) => (i * 31) & 0xff);
  const lockKey = 'scale:big:lock';
  await redis.set(lockKey, 'token');
  const fence = { lockKey, token: 'token' };
  const h: Hist = {};
  for (let i = 0; i < 5; i++) await store.saveCheckpoint('warm', payload, fence);
  const cpu0 = cpuSeconds(redisPid);
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await store.saveCheckpoint(`run${i % 10}`, payload, fence);
    observe(h, (performance.now() - t0) / 1000);
  }
  const redisCpuMs = ((cpuSeconds(redisPid) - cpu0) * 1000) / count;
  await redis.flushall(); // the bench's own Redis
  redis.disconnect();
  return { bytes, count, redisCpuMs, p50Ms: quantile(h, 0.5)! * 1000, p99Ms: quantile(h, 0.99)! * 1000 };
}

async function main(): Promise<void> {
  const sizes = values.workers!.split(',').map(Number);
  const opts: StepOptions = {
    runs: Number(values.runs),
    epochs: Number(values.epochs),
    epochMs: Number(values['epoch-ms']),
    window: Number(values.window),
    procs: Number(values.procs),
    checkpointBytes: Number(values['checkpoint-bytes']),
    idle: Number(values.idle),
  };
  const redis = await startRedis(values['redis-core']!);
  const loadBefore = loadavg()[0];
  const results: StepResult[] = [];
  let big: Awaited<ReturnType<typeof bigCheckpoints>> | null = null;
  try {
    big = await bigCheckpoints(redis.url, redis.pid, Number(values['big-checkpoint']));
    if (!values.json) console.error(`checkpoint of ${big.bytes} bytes: ${big.redisCpuMs.toFixed(2)} ms of Redis CPU each, p50/p99 ${big.p50Ms.toFixed(1)}/${big.p99Ms.toFixed(1)} ms`);
    for (const n of sizes) {
      const r = await step(redis.url, redis.pid, n, opts);
      results.push(r);
      if (!values.json) {
        console.error(
          `N=${n}: ${r.runsPerSec.toFixed(1)} runs/s, Redis ${r.redisCores.toFixed(2)} cores, workers ${r.workerCores.toFixed(2)} cores, ${Math.round(r.redisOpsPerSec)} cmd/s, fetch p50/p99 ${r.fetchP50Ms?.toFixed(2)}/${r.fetchP99Ms?.toFixed(2)} ms, fenced p50/p99 ${r.fencedP50Ms?.toFixed(2)}/${r.fencedP99Ms?.toFixed(2)} ms (load ${loadavg()[0].toFixed(2)})`,
        );
      }
    }
  } finally {
    redis.proc.kill('SIGTERM');
    await new Promise((r) => redis.proc.once('exit', r));
    rmSync(redis.dir, { recursive: true, force: true });
  }
  const head = { cpus: cpus().length, loadBefore, loadAfter: loadavg()[0], ...opts, redisCore: values['redis-core'] };
  if (values.json) {
    console.log(JSON.stringify({ ...head, bigCheckpoint: big, results }));
    return;
  }
  const f = (v: number | null, d = 2) => (v === null || Number.isNaN(v) ? '–' : v.toFixed(d));
  console.log(`machine: ${head.cpus} cores, load ${head.loadBefore.toFixed(2)} before, ${head.loadAfter.toFixed(2)} after; Redis on core ${head.redisCore}, AOF everysec; workers on cores ${values['worker-cores'] ?? 'but Redis’s'}`);
  console.log(`runs: ${opts.runs} queued per step, ${opts.epochs} epochs of ${opts.epochMs} ms sleep, ${opts.checkpointBytes}-byte checkpoints; window ${opts.window} s`);
  console.log(`checkpoint writes of ${big!.bytes} bytes (one client, fenced, ${big!.count} of them): ${big!.redisCpuMs.toFixed(2)} ms of Redis CPU each; p50 / p99 ${big!.p50Ms.toFixed(1)} / ${big!.p99Ms.toFixed(1)} ms`);
  console.log('| workers | processes | idle: Redis cores | idle: Redis cmd/s | runs/s | Redis cores | worker cores | Redis cmd/s | cmd per run | Redis CPU ms per run | worker CPU ms per run | job fetch p50 / p99 (ms) | fenced write p50 / p99 (ms) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.workers} | ${r.processes} | ${f(r.idleRedisCores, 3)} | ${Math.round(r.idleCmdPerSec)} | ${f(r.runsPerSec, 1)} | ${f(r.redisCores)} | ${f(r.workerCores)} | ${Math.round(r.redisOpsPerSec)} | ${f(r.perRunCommands, 1)} | ${f(r.perRunRedisCpuMs, 2)} | ${f(r.perRunWorkerCpuMs, 1)} | ${f(r.fetchP50Ms)} / ${f(r.fetchP99Ms)} | ${f(r.fencedP50Ms)} / ${f(r.fencedP99Ms)} |${r.drained ? ' (drained)' : ''}`,
    );
  }
}

if (values.child) await child();
else {
  await main();
  process.exit(0);
}
