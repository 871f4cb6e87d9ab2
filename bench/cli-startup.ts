// How fast `quantlab ls --json` answers through its bin against a running API: the bundle that install builds
// (services/cli/dist) against the TypeScript sources through tsx (what the bin did before), with `node -e 0` as the
// floor. Starts its own API (private key prefix, nothing queued), runs each variant N times, prints medians.
//   node --import tsx bench/cli-startup.ts [--runs 3]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { deleteByPrefix } from '../test/helpers/redis.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const prefix = `qlbench:cli-${process.pid}`;
const port = 3900 + (process.pid % 90);
const url = `http://127.0.0.1:${port}`;

const api = spawn(process.execPath, ['--import', 'tsx', 'services/api/src/server.ts'], {
  env: { ...process.env, PORT: String(port), KEY_PREFIX: prefix, QUEUE_NAME: `qlbench-cli-${process.pid}`, LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
try {
  for (let i = 0; ; i++) {
    if ((await fetch(`${url}/healthz`).catch(() => null))?.ok) break;
    if (i > 300) throw new Error('the API did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const time = (args: string[]) => {
    const t0 = performance.now();
    execFileSync(process.execPath, args, { env: { ...process.env, QUANTLAB_URL: url }, stdio: ['ignore', 'pipe', 'inherit'] });
    return performance.now() - t0;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const measure = (args: string[]) => Array.from({ length: runs }, () => time(args));
  if (!existsSync('services/cli/dist/main.js')) throw new Error('no bundle: run npm run build:cli');
  const load = loadavg()[0];
  const floor = measure(['-e', '0']);
  const bundle = measure(['services/cli/bin/quantlab.js', 'ls', '--json']);
  // The same bin without its bundle runs the sources through tsx.
  renameSync('services/cli/dist', 'services/cli/dist.bench');
  let tsx: number[];
  try {
    tsx = measure(['services/cli/bin/quantlab.js', 'ls', '--json']);
  } finally {
    renameSync('services/cli/dist.bench', 'services/cli/dist');
  }
  const fmt = (xs: number[]) => `median ${(median(xs) / 1000).toFixed(3)} s  (${xs.map((x) => (x / 1000).toFixed(3)).join(', ')})`;
  console.log(`load average (1 min) ${load.toFixed(1)}, ${runs} runs each`);
  console.log(`node -e 0                    ${fmt(floor)}`);
  console.log(`quantlab ls --json (bundle)  ${fmt(bundle)}`);
  console.log(`quantlab ls --json (tsx)     ${fmt(tsx)}`);
} finally {
  api.kill('SIGTERM');
  await new Promise((r) => api.once('exit', r));
  await deleteByPrefix(prefix);
}
