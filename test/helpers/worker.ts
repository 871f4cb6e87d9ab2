import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import {
  FINAL_STATUSES,
  ExperimentConfig,
  RunStore,
  createRunQueue,
  listWorkers,
  newId,
  producerConnection,
  runJob,
  newRunDocument,
  type Env,
  type ExperimentConfigInput,
  RunDocument,
  type RunEvent,
  type RunQueue,
} from '@quantlab/shared';

/** Test-side helpers for the worker: queue runs as the API does, spawn worker processes, watch run events. */

export function newRunDoc(config: ExperimentConfig, id = newId('run')): RunDocument {
  return newRunDocument(config, { id });
}

export interface Harness {
  redis: Redis;
  store: RunStore;
  queue: RunQueue;
  /** Stores a queued run and adds its job, as POST /experiments does. */
  submit(input: ExperimentConfigInput, opts?: { baselineId?: string }): Promise<string>;
  waitForStatus(id: string, statuses: RunDocument['status'][], timeoutMs: number): Promise<RunDocument>;
  close(): Promise<void>;
}

export function harness(env: Env): Harness {
  const redis = producerConnection(env.REDIS_URL);
  const store = new RunStore(redis, env.KEY_PREFIX);
  // BullMQ does not close a connection it was given: keep it, to close it below (else the test process never exits).
  const queueConnection = producerConnection(env.REDIS_URL);
  const queue = createRunQueue(env, queueConnection);
  return {
    redis,
    store,
    queue,
    async submit(input, opts = {}) {
      const config = ExperimentConfig.parse(input);
      const doc = newRunDocument(config, { baselineId: opts.baselineId ?? null });
      await store.create(doc);
      const job = runJob(doc);
      await queue.add(job.name, job.data, job.opts);
      return doc.id;
    },
    async waitForStatus(id, statuses, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const doc = await store.get(id);
        // What the worker wrote must be a valid document (the API's response schema would refuse it otherwise).
        if (doc && statuses.includes(doc.status)) return RunDocument.parse(doc);
        if (Date.now() > until) throw new Error(`run ${id} is ${doc?.status} after ${timeoutMs} ms (waiting for ${statuses.join('|')})${doc?.error ? `: ${doc.error.message}` : ''}`);
        await sleep(200);
      }
    },
    async close() {
      await queue.close();
      queueConnection.disconnect();
      redis.disconnect();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Every event published for the runs under a prefix, in arrival order. */
export async function recordEvents(env: Env): Promise<{ events: RunEvent[]; untilFinal(runId: string, timeoutMs?: number): Promise<void>; close(): Promise<void> }> {
  const sub = new Redis(env.REDIS_URL);
  const events: RunEvent[] = [];
  sub.on('pmessage', (_p, _c, msg: string) => events.push(JSON.parse(msg) as RunEvent));
  await sub.psubscribe(`${env.KEY_PREFIX}:events:*`);
  return {
    events,
    // Events arrive over pub/sub, a moment after the run's document (read on another connection) shows them; a run's
    // events are published in order, so once its final status is here, all of its events are.
    untilFinal: async (runId, timeoutMs = 5_000) =>
      void (await waitUntil(`the final status event of ${runId}`, async () => events.some((e) => e.runId === runId && e.type === 'status' && FINAL_STATUSES.includes(e.status)), timeoutMs, 20)),
    close: async () => void sub.disconnect(),
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** stderr lines so far (the worker's JSON log). */
  log: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Test teardown: SIGKILL the processes still running and wait until each has exited. */
export async function killAll(processes: readonly WorkerProcess[]): Promise<void> {
  for (const p of processes) p.child.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
}

/** Spawns `node --import tsx services/worker/src/main.ts` with the test's environment; resolves once it has registered. */
export async function spawnWorker(env: Env, extra: Record<string, string> = {}, timeoutMs = 30_000): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/worker/src/main.ts'], {
    env: { ...process.env, ...envVars(env), LOG_LEVEL: 'info', ...extra },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log: string[] = [];
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    log.push(...lines);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const redis = new Redis(env.REDIS_URL);
  try {
    let gone = false;
    void exited.then(() => (gone = true));
    await waitUntil(
      `worker ${child.pid} to register`,
      async () => {
        if (gone) throw new Error(`worker exited at start: ${log.join('\n')}`);
        return (await listWorkers(redis, env.KEY_PREFIX)).some((w) => w.pid === child.pid);
      },
      timeoutMs,
      100,
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    redis.disconnect();
  }
  return { child, pid: child.pid!, log, exited };
}

/** A TCP port nothing listens on right now (loopback). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function envVars(env: Env): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string' || typeof v === 'number') vars[k] = String(v);
  return vars;
}

/** Spawns the API process (services/api/src/server.ts) on HOST 127.0.0.1 and `port`; resolves once /healthz answers. */
export async function spawnApi(env: Env, port: number, timeoutMs = 30_000): Promise<WorkerProcess & { url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/api/src/server.ts'], {
    env: { ...process.env, ...envVars(env), HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log: string[] = [];
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitUntil(
      `the API on port ${port}`,
      async () => {
        if (gone) throw new Error(`the API exited at start: ${log.join('')}`);
        return fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      timeoutMs,
      100,
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return { child, pid: child.pid!, log, exited, url };
}
