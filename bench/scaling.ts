// Throughput of the worker fleet: the same batch of small runs with 1, 2 and 4 worker processes (one training thread
// each) against one Redis, in runs/minute, and the scaling ratios. Run it on a quiet machine:
//   node --import tsx bench/scaling.ts [--runs 16] [--workers 1,2,4] [--json]
// The run: mlp on 2,000 MNIST images (tested on the whole test split), 2 epochs, batch 100, wasm backend.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { ExperimentConfig, parseEnv, runJob } from '@quantlab/shared';
import { deleteByPrefix } from '../test/helpers/redis.ts';
import { harness, newRunDoc, spawnWorker, waitUntil, type WorkerProcess } from '../test/helpers/worker.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '16' }, workers: { type: 'string', default: '1,2,4' }, json: { type: 'boolean', default: false } } });
const RUNS = Number(values.runs);
const SIZES = values.workers!.split(',').map(Number);
const RUN = ExperimentConfig.parse({ name: 'scaling', dataset: 'mnist', model: 'mlp', training: { epochs: 2, trainLimit: 2000, batchSize: 100, seed: 1 } });
const WARMUP = ExperimentConfig.parse({ name: 'warm-up', dataset: 'mnist', model: 'mlp', training: { epochs: 1, trainLimit: 100, testLimit: 100 } });

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(workers: number): Promise<{ workers: number; runs: number; seconds: number; runsPerMinute: number; cpuSecondsPerRun: number }> {
  const env = parseEnv({ ...process.env, KEY_PREFIX: `bench:scaling-${randomBytes(3).toString('hex')}`, QUEUE_NAME: `scaling-${randomBytes(3).toString('hex')}`, TFJS_BACKEND: 'wasm', WORKER_CONCURRENCY: '1', LOG_LEVEL: 'warn' });
  const h = harness(env);
  const procs: WorkerProcess[] = [];
  try {
    procs.push(...(await Promise.all(Array.from({ length: workers }, () => spawnWorker(env, {}, 60_000)))));
    const submit = async (config: ExperimentConfig, n: number) => {
      const docs = Array.from({ length: n }, () => newRunDoc(config));
      for (const d of docs) await h.store.create(d);
      await h.queue.addBulk(docs.map((d) => runJob(d)));
      return docs.map((d) => d.id);
    };
    const finished = async (ids: string[]) => {
      const docs = await h.store.getMany(ids);
      const bad = docs.find((d) => d.status === 'failed' || d.status === 'cancelled');
      if (bad) throw new Error(`run ${bad.id} ${bad.status}: ${bad.error?.message}`);
      return docs.every((d) => d.status === 'completed');
    };
    // Warm-up: every worker thread loads TF.js and MNIST before the clock starts (one small run per worker).
    const warm = await submit(WARMUP, workers * 2);
    await waitUntil('warm-up runs', () => finished(warm), 120_000, 100);
    const cpu = () => procs.reduce((sum, p) => sum + cpuSeconds(p.pid), 0);
    const cpu0 = cpu();
    const t0 = performance.now();
    const ids = await submit(RUN, RUNS);
    await waitUntil('the measured runs', () => finished(ids), 30 * 60_000, 50);
    const seconds = (performance.now() - t0) / 1000;
    const perWorker = new Map<string, number>();
    for (const d of await h.store.getMany(ids)) perWorker.set(d.workerId!, (perWorker.get(d.workerId!) ?? 0) + 1);
    if (perWorker.size < Math.min(workers, RUNS)) console.error(`warning: only ${perWorker.size} of ${workers} workers took runs: ${[...perWorker.values()].join(', ')}`);
    // CPU time per run shows whether the work itself scales (no coordination overhead) apart from free cores.
    return { workers, runs: RUNS, seconds, runsPerMinute: (RUNS / seconds) * 60, cpuSecondsPerRun: (cpu() - cpu0) / RUNS };
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await h.close();
    await deleteByPrefix(env.KEY_PREFIX);
  }
}

const load = loadavg()[0];
const results = [];
for (const n of SIZES) {
  const r = await measure(n);
  results.push(r);
  if (!values.json) console.error(`${n} worker(s): ${r.runs} runs in ${r.seconds.toFixed(1)} s = ${r.runsPerMinute.toFixed(1)} runs/min, ${r.cpuSecondsPerRun.toFixed(2)} CPU s/run (load ${loadavg()[0].toFixed(2)})`);
}
const base = results[0].runsPerMinute;
const table = results.map((r) => ({ ...r, ratio: r.runsPerMinute / base }));
if (values.json) {
  console.log(JSON.stringify({ cpus: cpus().length, loadBefore: load, loadAfter: loadavg()[0], run: RUN, results: table }));
} else {
  console.log(`machine: ${cpus().length} cores; 1-min load average before ${load.toFixed(2)}, after ${loadavg()[0].toFixed(2)}`);
  console.log(`run: mlp, mnist, trainLimit 2000, 2 epochs, batch 100, wasm; ${RUNS} runs per setting`);
  // Cores busy = the workers' CPU time over the wall time: on a shared machine, what they actually got.
  console.log('| worker processes | runs | wall time (s) | runs/minute | vs 1 worker | CPU s per run | cores busy |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of table) console.log(`| ${r.workers} | ${r.runs} | ${r.seconds.toFixed(1)} | ${r.runsPerMinute.toFixed(1)} | ${r.ratio.toFixed(2)}× | ${r.cpuSecondsPerRun.toFixed(2)} | ${((r.cpuSecondsPerRun * r.runs) / r.seconds).toFixed(2)} |`);
}
process.exit(0);
