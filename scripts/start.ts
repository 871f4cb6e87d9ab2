// `npm start`: Redis (started here if nothing answers and redis-server is installed), the API with its dashboard,
// one worker, and a demo experiment, so a fresh clone shows the whole path working.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { loadEnvOrExit } from '@quantlab/shared';

const env = loadEnvOrExit();
const children: ChildProcess[] = [];

async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function ensureRedis(): Promise<void> {
  if (await redisAnswers(env.REDIS_URL)) return;
  const url = new URL(env.REDIS_URL);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(url.hostname);
  const hasBinary = spawnSync('redis-server', ['--version']).status === 0;
  if (!local || !hasBinary) {
    console.error(`quantlab: nothing answers at ${env.REDIS_URL}: start Redis there (or run \`docker compose up\`)`);
    process.exit(1);
  }
  const dir = resolve(env.DATA_DIR, 'redis');
  mkdirSync(dir, { recursive: true });
  console.log(`starting redis-server on port ${url.port || 6379} with its data in ${dir}`);
  const redis = spawn('redis-server', ['--port', url.port || '6379', '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes'], { stdio: 'ignore' });
  children.push(redis);
  for (let i = 0; i < 50 && !(await redisAnswers(env.REDIS_URL)); i++) await new Promise((r) => setTimeout(r, 100));
}

function run(name: string, script: string): void {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`quantlab: the ${name} exited (${signal ?? code}); stopping`);
      stop(1);
    }
  });
  children.push(child);
}

let stopping = false;
function stop(code = 0): void {
  stopping = true;
  for (const c of children.reverse()) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500).unref();
}
process.on('SIGINT', () => stop());
process.on('SIGTERM', () => stop());

async function demo(base: string): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (env.API_TOKEN) headers.authorization = `Bearer ${env.API_TOKEN}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
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

await ensureRedis();
run('API', 'services/api/src/server.ts');
run('worker', 'services/worker/src/main.ts');
const base = `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`;
console.log(`quantlab is starting: open ${base}/ (Ctrl-C stops it)`);
await demo(base);
