import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@quantlab/api';
import { startWorker, type RunningWorker } from '@quantlab/worker/worker';
import { RunDocument, type Env, type ExperimentConfigInput, type RunStatus } from '@quantlab/shared';
import { testEnv } from './redis.ts';
import { sleep } from './worker.ts';
import { TEST_BACKEND } from './backend.ts';

/** The real stack for lifecycle tests: the API (inject) and, unless asked not to, one in-process worker. */
export interface Stack {
  env: Env & { cleanup(): Promise<void> };
  app: FastifyInstance;
  worker: RunningWorker | null;
  startWorker(): Promise<RunningWorker>;
  submit(config: ExperimentConfigInput): Promise<string>;
  run(id: string): Promise<RunDocument | null>;
  waitFor(id: string, statuses: RunStatus[], timeoutMs?: number, pred?: (d: RunDocument) => boolean): Promise<RunDocument>;
  /** Serves the API on a free loopback port (for clients in other processes: the CLI, Python); its base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** A tiny run: mlp on 400 MNIST digits, one epoch (about a second on wasm). */
export const tiny = (over: Partial<ExperimentConfigInput> = {}, training: Record<string, unknown> = {}): ExperimentConfigInput => ({
  name: 'tiny',
  dataset: 'mnist',
  model: 'mlp',
  ...over,
  training: { epochs: 1, trainLimit: 400, testLimit: 300, seed: 1, ...training },
});

export async function lifecycleStack(name: string, opts: { worker?: boolean; env?: Record<string, string> } = {}): Promise<Stack> {
  const env = testEnv(name, { TFJS_BACKEND: TEST_BACKEND, ...opts.env });
  const app = await buildApp({ env, logger: false });
  await app.ready();
  const stack: Stack = {
    env,
    app,
    worker: null,
    async startWorker() {
      stack.worker = await startWorker(env, { heartbeatMs: 1_000 });
      return stack.worker;
    },
    async submit(config) {
      const res = await app.inject({ method: 'POST', url: '/experiments', payload: config as object });
      if (res.statusCode !== 202) throw new Error(`POST /experiments: ${res.statusCode} ${res.body}`);
      return (res.json() as { id: string }).id;
    },
    async run(id) {
      const res = await app.inject({ method: 'GET', url: `/experiments/${id}` });
      return res.statusCode === 200 ? RunDocument.parse(res.json()) : null;
    },
    async waitFor(id, statuses, timeoutMs = 30_000, pred = () => true) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const doc = await stack.run(id);
        if (doc && statuses.includes(doc.status) && pred(doc)) return doc;
        if (Date.now() > until) throw new Error(`run ${id} is ${doc?.status} after ${timeoutMs} ms (waiting for ${statuses.join('|')})${doc?.error ? `: ${doc.error.message}` : ''}`);
        await sleep(150);
      }
    },
    async listen() {
      await app.listen({ host: '127.0.0.1', port: 0 });
      return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    },
    async close() {
      await stack.worker?.close();
      await app.close();
      await env.cleanup();
    },
  };
  if (opts.worker !== false) await stack.startWorker();
  return stack;
}
