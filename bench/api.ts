/**
 * API throughput on loopback with autocannon, each read endpoint against its floor in the same run:
 *   - GET /experiments/:id (a completed run with 20 epochs), GET /experiments?limit=50 (a page of 50 such runs),
 *     GET /sweeps/:id (a sweep of 21 completed runs with its summary), and POST /experiments;
 *   - the floor: a bare Fastify + ioredis server that answers the same path with the same bytes, read with one Redis
 *     GET (what any server must at least do). ratio = quantlab req/s / floor req/s.
 * The API and the floor each run in a child process of their own (autocannon gets this one), with rate limits off and
 * a private KEY_PREFIX and QUEUE_NAME that no worker drains. Keys are deleted at the end.
 *
 *   node --import tsx bench/api.ts [--duration 10] [--connections 64] [--pipelining 1] [--rounds 1] [--validate-responses] [--cpu-prof DIR] [--against DIR]
 *
 * --rounds N alternates quantlab and its floor N times per endpoint (--duration seconds each) and reports the median of
 * the N ratios with their range: on a loaded machine a single 10 s window of each can land in different load.
 *
 * --validate-responses encodes every response through its zod schema, as buildApp does by default (tests).
 *
 * Each read also reports the processor time (user + system, from /proc on Linux) each server process spent per request
 * while it was being measured: unlike req/s it hardly moves with what else runs on the machine. --cpu-prof DIR writes a
 * V8 CPU profile of the API and of the floor process into DIR (node --cpu-prof) when they exit.
 *
 * --against DIR also serves the API of another checkout (DIR, with its node_modules; e.g. a `git archive` of an earlier
 * commit) on the same data and measures it in the same rounds, between quantlab and the floor: a change's effect
 * within one run, where two runs minutes apart can differ more than the change.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { ExperimentConfig, newId, newRunDocument, parseEnv, RunStore, SweepStore, type RunDocument } from '@quantlab/shared';
import { deleteByPrefix } from '../test/helpers/redis.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    pipelining: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '1' },
    serve: { type: 'boolean' },
    floor: { type: 'boolean' },
    'validate-responses': { type: 'boolean' },
    'cpu-prof': { type: 'string' },
    against: { type: 'string' },
  },
});

const tag = `bench-${randomBytes(3).toString('hex')}`;
const benchEnv = {
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  KEY_PREFIX: process.env.BENCH_PREFIX ?? `qlbench:${tag}`,
  QUEUE_NAME: `q-${tag}`,
  RATE_LIMIT_MAX: '0',
  LOG_LEVEL: 'silent',
  HOST: '127.0.0.1',
  PORT: '0',
};
const floorKey = (prefix: string, path: string) => `${prefix}:floor:${path}`;

if (values.serve) {
  // Child: the API alone, reporting its port on stdout. As server.ts runs it (response validation off; tests keep it on).
  const { buildApp } = await import('@quantlab/api');
  const app = await buildApp({ env: parseEnv(process.env), logger: false, validateResponses: Boolean(values['validate-responses']) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${(app.server.address() as { port: number }).port}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
} else if (values.floor) {
  // Child: the floor. Any path answers the bytes stored for it, with one GET on an auto-pipelined connection.
  const { default: Fastify } = await import('fastify');
  const prefix = process.env.KEY_PREFIX!;
  const redis = new Redis(process.env.REDIS_URL!, { enableAutoPipelining: true });
  const app = Fastify({ logger: false });
  app.get('/*', async (request, reply) => {
    const body = await redis.get(floorKey(prefix, request.url));
    return reply.type('application/json; charset=utf-8').send(body);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${(app.server.address() as { port: number }).port}\n`);
  process.on('SIGTERM', () => void app.close().then(() => (redis.disconnect(), process.exit(0))));
} else {
  const start = (flag: string, cwd?: string): Promise<{ child: ChildProcess; base: string }> => {
    const prof = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
    const child = spawn(process.execPath, [...prof, '--import', 'tsx', 'bench/api.ts', flag, ...(values['validate-responses'] ? ['--validate-responses'] : [])], {
      cwd,
      env: { ...process.env, ...benchEnv },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return new Promise((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve({ child, base: `http://127.0.0.1:${Number(String(d).trim())}` }));
      child.once('exit', (code) => reject(new Error(`${flag} exited (${code})`)));
    });
  };
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const pipelining = Number(values.pipelining);
  const rounds = Math.max(1, Number(values.rounds));
  const redis = new Redis(benchEnv.REDIS_URL);
  const children: ChildProcess[] = [];

  try {
    const { runs: runIds, sweepId } = await seed(redis, benchEnv.KEY_PREFIX);
    const [api, floor, against] = await Promise.all([start('--serve'), start('--floor'), values.against ? start('--serve', values.against) : null]);
    children.push(api.child, floor.child, ...(against ? [against.child] : []));

    const run = (title: string, url: string, opts: Partial<autocannon.Options> = {}) =>
      new Promise<autocannon.Result>((resolve, reject) => {
        autocannon({ url, duration, connections, pipelining, ...opts, title }, (err, res) => (err ? reject(err) : resolve(res)));
      });
    // A server's processor time (µs, user + system; clock ticks of 10 ms), or NaN where /proc is not there.
    const cpuMicros = (pid: number): number => {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        return (Number(f[11]) + Number(f[12])) * 10_000;
      } catch {
        return NaN;
      }
    };
    const measured = async (title: string, side: { child: ChildProcess; base: string }, path: string) => {
      const before = cpuMicros(side.child.pid!);
      const res = await run(title, side.base + path);
      return { res, cpu: (cpuMicros(side.child.pid!) - before) / Math.max(1, res.requests.total) };
    };
    const reads = [
      { title: 'GET /experiments/:id', path: `/experiments/${runIds[0]}` },
      { title: 'GET /experiments?limit=50', path: '/experiments?limit=50' },
      { title: 'GET /sweeps/:id', path: `/sweeps/${sweepId}` },
    ];
    const rows = [];
    for (const r of reads) {
      // The floor answers with exactly the bytes quantlab sends.
      const body = await (await fetch(api.base + r.path)).text();
      await redis.set(floorKey(benchEnv.KEY_PREFIX, r.path), body);
      const qs: autocannon.Result[] = [];
      const fs: autocannon.Result[] = [];
      const qcpu: number[] = [];
      const fcpu: number[] = [];
      const as: autocannon.Result[] = [];
      const acpu: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const q = await measured(r.title, api, r.path);
        if (against) {
          const a = await measured(`against ${r.title}`, against, r.path);
          as.push(a.res);
          acpu.push(a.cpu);
        }
        const f = await measured(`floor ${r.title}`, floor, r.path);
        qs.push(q.res);
        fs.push(f.res);
        qcpu.push(q.cpu);
        fcpu.push(f.cpu);
      }
      const ratios = qs.map((q, i) => q.requests.average / fs[i].requests.average).sort((a, b) => a - b);
      const median = <T>(a: T[]) => a[Math.floor(a.length / 2)];
      const aRatios = as.map((a, i) => a.requests.average / fs[i].requests.average).sort((x, y) => x - y);
      const mid = (a: autocannon.Result[]) => median([...a].sort((x, y) => x.requests.average - y.requests.average));
      rows.push({
        endpoint: r.title,
        bytes: Buffer.byteLength(body),
        'req/s': Math.round(mid(qs).requests.average),
        'floor req/s': Math.round(mid(fs).requests.average),
        ratio: Number(median(ratios).toFixed(2)),
        ...(rounds > 1 ? { 'ratio range': `${ratios[0].toFixed(2)}-${ratios[ratios.length - 1].toFixed(2)}` } : {}),
        'CPU µs/req': Number(median([...qcpu].sort((a, b) => a - b)).toFixed(1)),
        'floor CPU µs/req': Number(median([...fcpu].sort((a, b) => a - b)).toFixed(1)),
        ...(against
          ? {
              'against ratio': `${median(aRatios).toFixed(2)} (${aRatios[0].toFixed(2)}-${aRatios[aRatios.length - 1].toFixed(2)})`,
              'against CPU µs/req': Number(median([...acpu].sort((a, b) => a - b)).toFixed(1)),
            }
          : {}),
        'p99 ms': mid(qs).latency.p99,
        'floor p99 ms': mid(fs).latency.p99,
        'non-2xx/errors': [...qs, ...fs, ...as].reduce((n, x) => n + x.non2xx + x.errors + x.timeouts, 0),
      });
    }
    let n = 0;
    const post = await run('POST /experiments', api.base, {
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
    console.log(
      `quantlab API on loopback, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0].toFixed(1)}; ${rounds > 1 ? `${rounds} alternating rounds of ` : ''}${duration}s each, ${connections} connections, pipelining ${pipelining}, response validation ${values['validate-responses'] ? 'on' : 'off (as server.ts)'}`,
    );
    console.table(rows);
    console.log(`POST /experiments: ${Math.round(post.requests.average)} req/s, p99 ${post.latency.p99} ms, non-2xx ${post.non2xx}`);
  } finally {
    for (const c of children) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
    redis.disconnect();
    await deleteByPrefix(benchEnv.KEY_PREFIX);
  }
}

/** 50 completed standalone runs and a sweep of 21 completed runs (a baseline and 20 that compare against it), 20 epochs each. */
async function seed(redis: Redis, prefix: string): Promise<{ runs: string[]; sweepId: string }> {
  const store = new RunStore(redis, prefix);
  const sweeps = new SweepStore(redis, prefix);
  const t0 = Date.now() - 3_600_000;
  const finished = (doc: RunDocument, i: number): RunDocument => ({
    ...doc,
    status: 'completed',
    startedAt: doc.createdAt,
    finishedAt: new Date(t0 + i * 1000 + 500).toISOString(),
    progress: { epoch: 20, epochs: 20, fraction: 1 },
    metrics: { testAccuracy: 0.9 + i / 1000, trainLoss: 0.1, durationMs: 12_345, backend: 'wasm', imagesPerSec: 5000, weightBytes: { float32: 4_000_000, compact: 500_000 }, compressionRatio: 8 },
    dataset: { name: 'mnist', train: 60000, test: 10000, inputShape: [28, 28, 1], split: 'stratified by class', hash: 'f'.repeat(64) },
    provenance: { quantlabVersion: '0.1.0', gitCommit: 'a'.repeat(40), tfjsVersion: '4.22.0', backend: 'wasm', node: process.version, workerId: 'w1', host: 'bench', configHash: 'c'.repeat(64) },
    artifact: { bytes: 500_000, format: 'quantlab-artifact/1' },
    epochs: Array.from({ length: 20 }, (_, e) => ({ epoch: e + 1, trainLoss: 1 / (e + 1), trainAccuracy: 0.8, testAccuracy: 0.85, durationMs: 600, imagesPerSec: 5000, learningRate: 0.01 })),
  });
  const docs = Array.from({ length: 50 }, (_, i) =>
    finished(newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'cnn5', name: `bench ${i}`, training: { epochs: 20 } }), { createdAt: new Date(t0 + i * 1000).toISOString() }), i),
  );
  const sweepId = newId('swp');
  const baseline = newId('run');
  const sweepDocs = Array.from({ length: 21 }, (_, i) => {
    const repr = i === 0 ? { kind: 'float32' } : { kind: 'fixed', bits: 2 + (i % 7) };
    const config = ExperimentConfig.parse({ dataset: 'mnist', model: 'cnn5', name: `sweep ${i}`, representation: repr, training: { epochs: 20, seed: 1 + Math.floor(i / 7) } });
    return finished(newRunDocument(config, { id: i === 0 ? baseline : undefined, sweepId, baselineId: i === 0 ? null : baseline, createdAt: new Date(t0 - 100_000 + i).toISOString() }), i);
  });
  for (const doc of [...sweepDocs, ...docs]) await store.importMany([{ doc }]);
  await sweeps.create({ id: sweepId, name: 'bench', createdAt: new Date(t0 - 100_000).toISOString(), preset: null, budget: null, request: {}, runIds: sweepDocs.map((d) => d.id), baselines: { '1': baseline } });
  return { runs: docs.map((d) => d.id).reverse(), sweepId };
}
