// A 60-second mixed attack against a live loopback stack (issue 14): its own redis-server (maxmemory, noeviction), the
// API process and one worker, legitimate clients submitting and following runs, and attackers next to them. Reports
// /healthz latency percentiles and whether every legitimate run completed. Loopback only, bounded in time and size.
//   node --import tsx bench/attack.ts [--seconds 60]
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';

const SECONDS = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 60;
const TOKEN = 'bench-attack-token-0123456789';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** /healthz every 100 ms for `ms`; latencies in ms (Infinity: failed). */
async function probeFor(ms: number): Promise<number[]> {
  const out: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t0 = performance.now();
    const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) }).catch(() => null);
    await r?.text();
    out.push(r?.ok ? performance.now() - t0 : Infinity);
    await sleep(100);
  }
  return out;
}
function summary(xs: number[]): string {
  const ok = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const pct = (p: number) => ok[Math.min(ok.length - 1, Math.floor((p / 100) * ok.length))]?.toFixed(1);
  return `${xs.length} probes, ${xs.length - ok.length} failed; p50 ${pct(50)} ms, p95 ${pct(95)} ms, p99 ${pct(99)} ms, max ${ok.at(-1)?.toFixed(1)} ms`;
}

const children: ChildProcess[] = [];
function start(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  c.stderr!.on('data', () => {});
  children.push(c);
  return c;
}
async function until(what: string, fn: () => Promise<boolean>, ms: number) {
  const end = Date.now() + ms;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const redisPort = await freePort();
const apiPort = await freePort();
const url = `http://127.0.0.1:${apiPort}`;
start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory', '256mb', '--maxmemory-policy', 'noeviction']);
const env = {
  REDIS_URL: `redis://127.0.0.1:${redisPort}`,
  KEY_PREFIX: 'bench-attack',
  QUEUE_NAME: 'bench-attack',
  API_TOKEN: TOKEN,
  HOST: '127.0.0.1',
  PORT: String(apiPort),
  LOG_LEVEL: 'error',
  REQUEST_TIMEOUT_MS: '5000',
  TFJS_BACKEND: process.env.TFJS_BACKEND ?? 'auto',
};
try {
  await sleep(300);
  start(process.execPath, ['--import', 'tsx', 'services/api/src/server.ts'], env);
  await until('the API', async () => (await fetch(`${url}/healthz`)).ok, 60_000);
  start(process.execPath, ['--import', 'tsx', 'services/worker/src/main.ts'], env);
  await until('a worker', async () => ((await (await fetch(`${url}/workers`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { items: unknown[] }).items.length > 0, 180_000);
  console.log(`stack up: API ${url}, redis ${redisPort}; attacking for ${SECONDS} s`);

  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  // The machine's own noise first: /healthz for 15 s with nothing else going on.
  const quiet = await probeFor(15_000);
  console.log(`quiet /healthz: ${summary(quiet)}`);
  const end = Date.now() + SECONDS * 1000;
  const tally: Record<string, Record<number, number>> = {};
  const count = (what: string, status: number) => ((tally[what] ??= {})[status] = (tally[what][status] ?? 0) + 1);
  const loop = async (what: string, fn: () => Promise<number>, pauseMs = 0) => {
    while (Date.now() < end) {
      count(what, await fn().catch(() => -1));
      if (pauseMs) await sleep(pauseMs);
    }
  };

  // Legitimate: one small run every 10 s, followed to the end afterwards.
  const legit: string[] = [];
  const submit = async () => {
    while (Date.now() < end) {
      const r = await fetch(`${url}/experiments`, { method: 'POST', headers: auth, body: JSON.stringify({ dataset: 'mnist', model: 'mlp', training: { epochs: 1, trainLimit: 2000, testLimit: 500 } }) });
      if (r.status === 202) legit.push(((await r.json()) as { id: string }).id);
      else console.log(`legitimate submit answered ${r.status}`);
      await sleep(10_000);
    }
  };
  // /healthz every 100 ms.
  let health: number[] = [];
  const probe = async () => void (health = await probeFor(end - Date.now()));

  const pattern: Record<string, unknown> = { kind: 'fixed' };
  for (let i = 0; i < 20_000; i++) pattern[`f${i}`] = 1;
  const sweepBody = JSON.stringify({ base: { dataset: 'mnist', model: 'mlp' }, vary: { representation: [pattern] } });
  const exportBody = JSON.stringify({
    format: 'quantlab-sweep-export',
    version: 1,
    exportedAt: new Date().toISOString(),
    sweep: { id: 'swp_attack_000001', name: 'e'.repeat(2_000_000), createdAt: new Date().toISOString(), preset: null, budget: null, request: {}, runIds: [], baselines: {} },
    runs: [],
    artifacts: {},
  });
  const slowloris = () =>
    new Promise<number>((resolve) => {
      const s = connect(apiPort, '127.0.0.1', () => s.write('POST /experiments HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{'));
      let first = '';
      s.on('data', (d) => (first ||= d.toString().slice(9, 12)));
      s.on('close', () => resolve(Number(first) || 0));
      s.on('error', () => resolve(-1));
      setTimeout(() => s.destroy(), 10_000);
    });
  const streams = async () => {
    const open: AbortController[] = [];
    const id = legit[0];
    if (!id) return 0;
    let last = 0;
    for (let i = 0; i < 30; i++) {
      const ac = new AbortController();
      const r = await fetch(`${url}/experiments/${id}/events`, { headers: auth, signal: ac.signal }).catch(() => null);
      last = r?.status ?? -1;
      if (r?.status === 200) open.push(ac);
    }
    await sleep(2_000);
    for (const ac of open) ac.abort();
    return last;
  };

  await Promise.all([
    submit(),
    probe(),
    ...Array.from({ length: 4 }, () => loop('wrong token', async () => (await fetch(`${url}/experiments`, { headers: { authorization: 'Bearer wrong-token-guess-000000' } })).status)),
    loop('20,000-field sweep', async () => (await fetch(`${url}/sweeps`, { method: 'POST', headers: auth, body: sweepBody })).status, 200),
    loop('2 MB import string', async () => (await fetch(`${url}/import`, { method: 'POST', headers: auth, body: exportBody })).status, 500),
    ...Array.from({ length: 20 }, () => loop('slow request', slowloris)),
    loop('30 event streams', streams, 500),
    loop('414 url', async () => (await fetch(`${url}/experiments/${'a'.repeat(400)}`, { method: 'DELETE', headers: auth })).status, 200),
    loop('431 headers', async () => (await fetch(`${url}/healthz`, { headers: { 'x-big': 'b'.repeat(20_000) } })).status, 200),
  ]);

  // Every legitimate run must complete.
  const statuses = async () => Promise.all(legit.map(async (id) => ((await (await fetch(`${url}/experiments/${id}`, { headers: auth })).json()) as { status: string }).status));
  const finished = (s: string[]) => s.every((x) => ['completed', 'failed', 'cancelled'].includes(x));
  await until('the legitimate runs', async () => finished(await statuses()), 600_000).catch(() => {});
  const final = await statuses();

  console.log(`/healthz under attack: ${summary(health)}`);
  for (const [what, by] of Object.entries(tally)) console.log(`${what}: ${Object.entries(by).map(([s, n]) => `${n}x ${s}`).join(', ')}`);
  console.log(`legitimate runs: ${legit.length} submitted; ${final.filter((s) => s === 'completed').length} completed; statuses ${JSON.stringify(final)}`);
} finally {
  for (const c of children.reverse()) c.kill('SIGKILL');
}
process.exit(0);
