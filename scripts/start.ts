// `npm start`: Redis (started here if nothing answers and redis-server is installed), the API with its dashboard,
// one worker, and a demo experiment, so a fresh clone shows the whole path working.
import type { ChildProcess } from 'node:child_process';
import { loadEnvOrExit } from '@quantlab/shared';
import { baseUrl, ensureRedis, startService, waitForApi } from './lib/stack.ts';

const env = loadEnvOrExit();
const children: ChildProcess[] = [];
let stopping = false;

function stop(code = 0): void {
  stopping = true;
  for (const c of children.reverse()) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500).unref();
}
process.on('SIGINT', () => stop());
process.on('SIGTERM', () => stop());

function run(name: string, script: string): void {
  const child = startService(script);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`quantlab: the ${name} exited (${signal ?? code}); stopping`);
    stop(1);
  });
  children.push(child);
}

async function demo(base: string): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (env.API_TOKEN) headers.authorization = `Bearer ${env.API_TOKEN}`;
  await waitForApi(base);
  const body = { name: 'demo: mnist mlp', dataset: 'mnist', model: 'mlp', training: { epochs: 1 } };
  const res = await fetch(`${base}/experiments`, { method: 'POST', headers, body: JSON.stringify(body) });
  const { id } = (await res.json()) as { id: string };
  console.log(`demo experiment ${id} queued: ${base}/#/runs/${id}`);
  for (;;) {
    await new Promise((r) => setTimeout(r, 2000));
    const doc = (await (await fetch(`${base}/experiments/${id}`, { headers })).json()) as { status: string; metrics: { testAccuracy: number | null }; error: { message: string } | null };
    if (doc.status === 'completed') return console.log(`demo experiment completed: test accuracy ${doc.metrics.testAccuracy?.toFixed(4)}`);
    if (doc.status === 'failed' || doc.status === 'cancelled') return console.log(`demo experiment ${doc.status}: ${doc.error?.message ?? ''}`);
  }
}

const redis = await ensureRedis(env);
if (redis) children.push(redis);
run('API', 'services/api/src/server.ts');
run('worker', 'services/worker/src/main.ts');
const base = baseUrl(env);
console.log(`quantlab is starting: open ${base}/ (Ctrl-C stops it)`);
await demo(base);
