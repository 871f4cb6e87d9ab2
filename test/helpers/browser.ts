import { existsSync, mkdirSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@quantlab/api/app';
import { testEnv } from './redis.ts';

/** Debian's chromium (apt-get install chromium; .ci/run installs it when missing). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ARTIFACTS = join(ROOT, 'test-artifacts');

let built = false;
/** Builds the dashboard bundle from the current sources (once per test process; about a second). */
export function buildDashboard(): void {
  if (built) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'services/dashboard/build.mjs')], { encoding: 'utf8' });
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
  worker: ChildProcess | null;
  /** Starts the worker process now (for tests that need the queue to wait first). */
  startWorker(): void;
  close(): Promise<void>;
}

/** The worker as its own process (services/worker/src/main.ts), as in production; its output goes to ours on failure. */
function spawnWorker(env: Record<string, unknown>): ChildProcess {
  const vars = Object.fromEntries(Object.entries(env).flatMap(([k, v]) => (v === undefined || typeof v === 'function' ? [] : [[k, String(v)]])));
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'services/worker/src/main.ts')], { cwd: ROOT, env: { ...process.env, ...vars }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
  child.on('exit', (code, signal) => {
    if (code && signal === null) process.stderr.write(`worker exited with ${code}: ${stderr}\n`);
  });
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The real API on 127.0.0.1 (random port) with its own Redis prefix and queue, and optionally a worker process. */
export async function startStack(name: string, opts: { worker?: boolean; env?: Record<string, string> } = {}): Promise<Stack> {
  buildDashboard();
  const env = testEnv(name, opts.env);
  const app = await buildApp({ env, logger: false, sseHeartbeatMs: 2000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const stack: Stack = {
    url: `http://127.0.0.1:${port}`,
    app,
    env,
    worker: null,
    startWorker() {
      stack.worker ??= spawnWorker(env);
    },
    async close() {
      if (stack.worker) await stopWorker(stack.worker);
      await app.close();
      await env.cleanup();
    },
  };
  if (opts.worker) stack.startWorker();
  return stack;
}

/**
 * A stack and a browser for one test, closed after it (the browser first: its live streams and polls must not reach
 * an API that is closing).
 */
export async function openDashboard(t: { after(fn: () => Promise<void>): void }, name: string, opts: Parameters<typeof startStack>[1] = {}): Promise<{ stack: Stack; browser: Browser }> {
  const stack = await startStack(name, opts);
  const browser = await launchBrowser().catch(async (e) => {
    await stack.close();
    throw e;
  });
  t.after(async () => {
    await browser.close();
    await stack.close();
  });
  return { stack, browser };
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
  return join(ARTIFACTS, `${name}.png`);
}
