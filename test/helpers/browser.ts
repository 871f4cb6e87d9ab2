import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@quantlab/api/app';
import { startWorker, type RunningWorker } from '@quantlab/worker/worker';
import { testEnv } from './redis.ts';

/** Debian's chromium (apt-get install chromium; .ci/run installs it when missing). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = 'test-artifacts';

let built = false;
/** Builds the dashboard bundle from the current sources (once per test process; about a second). */
export function buildDashboard(): void {
  if (built) return;
  const r = spawnSync(process.execPath, ['services/dashboard/build.mjs'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dashboard build failed: ${r.stderr || r.stdout}`);
  built = true;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface Stack {
  url: string;
  app: FastifyInstance;
  env: ReturnType<typeof testEnv>;
  worker: RunningWorker | null;
  close(): Promise<void>;
}

/** The real API on 127.0.0.1 (random port) with its own Redis prefix and queue, and optionally an in-process worker. */
export async function startStack(name: string, opts: { worker?: boolean; env?: Record<string, string> } = {}): Promise<Stack> {
  buildDashboard();
  const env = testEnv(name, opts.env);
  const app = await buildApp({ env, logger: false, sseHeartbeatMs: 2000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  let worker: RunningWorker | null = null;
  try {
    if (opts.worker) worker = await startWorker(env);
  } catch (e) {
    await app.close();
    await env.cleanup();
    throw e;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    env,
    worker,
    async close() {
      await worker?.close();
      await app.close();
      await env.cleanup();
    },
  };
}

/** Collects uncaught page errors and console errors, so a test can assert the page ran clean. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

export function screenshotPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return `${ARTIFACTS}/${name}.png`;
}
