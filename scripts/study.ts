// The paper's bit-width study as one command: start the stack (Redis if needed, the API, N worker processes),
// submit the `paper` preset, wait for every run, and write the Markdown report with its SVG figure.
//   npm run study -- --budget small --dataset fashion-mnist --workers 2 --out docs/REPRODUCTION.md
import type { ChildProcess } from 'node:child_process';
import { execSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { loadEnvOrExit } from '@quantlab/shared';
import { costSvgPaths, relativeAccuracyChart, sweepReportMarkdown, type SweepForReport } from '../services/cli/src/report/sweep-report.ts';
import { costChart, type CostAxis } from '../services/cli/src/report/master-report.ts';
import { baseUrl, ensureRedis, startService, waitForApi } from './lib/stack.ts';

const { values } = parseArgs({
  options: {
    budget: { type: 'string', default: 'small' },
    dataset: { type: 'string' },
    workers: { type: 'string', default: '2' },
    seeds: { type: 'string' },
    out: { type: 'string', default: 'docs/REPRODUCTION.md' },
  },
});
const env = loadEnvOrExit();
const workers = Number(values.workers);
if (!['small', 'full'].includes(values.budget!) || !(workers >= 0)) {
  console.error('study: --budget small|full, --workers N (0 = use the workers already running against REDIS_URL)');
  process.exit(2);
}

// Read before the services start: the code they run, whatever is committed while the study goes on.
const commit = (() => {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const children: ChildProcess[] = [];
const stopAll = () => children.reverse().forEach((c) => c.kill('SIGTERM'));
process.on('SIGINT', () => (stopAll(), process.exit(130)));

const redis = await ensureRedis(env);
if (redis) children.push(redis);
const base = baseUrl(env);
children.push(startService('services/api/src/server.ts'));
for (let i = 0; i < workers; i++) children.push(startService('services/worker/src/main.ts', { WORKER_CONCURRENCY: '1' }));
await waitForApi(base);

const headers: Record<string, string> = { 'content-type': 'application/json', ...(env.API_TOKEN ? { authorization: `Bearer ${env.API_TOKEN}` } : {}) };
const request = {
  name: `paper-${values.budget}${values.dataset ? `-${values.dataset}` : ''}`,
  preset: 'paper',
  budget: values.budget,
  base: values.dataset ? { dataset: values.dataset } : {},
  ...(values.seeds ? { seeds: values.seeds.split(',').map(Number) } : {}),
};
const res = await fetch(`${base}/sweeps`, { method: 'POST', headers, body: JSON.stringify(request) });
if (res.status !== 202) {
  console.error(`study: POST /sweeps: ${res.status} ${await res.text()}`);
  stopAll();
  process.exit(1);
}
const { id } = (await res.json()) as { id: string };
const started = Date.now();
console.log(`study: sweep ${id} queued; watch it at ${base}/#/sweeps/${id}`);

let sweep: SweepForReport;
for (;;) {
  await new Promise((r) => setTimeout(r, 15_000));
  sweep = (await (await fetch(`${base}/sweeps/${id}`, { headers })).json()) as SweepForReport;
  const counts = sweep.runs.reduce<Record<string, number>>((m, r) => ((m[r.status] = (m[r.status] ?? 0) + 1), m), {});
  console.log(`study: ${((Date.now() - started) / 60_000).toFixed(1)} min, ${JSON.stringify(counts)}`);
  if (sweep.runs.every((r) => ['completed', 'failed', 'cancelled'].includes(r.status))) break;
}

const cpu = cpus();
const notes = [
  '## Where and how this was measured',
  '',
  `- Machine: ${cpu.length} cores (${cpu[0]?.model ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, no GPU; Node.js ${process.version}; quantlab commit ${commit} (the code the processes started with).`,
  `- Stack: the real one — Redis, the API, ${workers} worker process${workers === 1 ? '' : 'es'} (one run each at a time), all on this machine; submitted as the \`paper\` preset (budget \`${values.budget}\`).`,
  `- Total wall time of the command, submission to last run: ${((Date.now() - started) / 60_000).toFixed(1)} minutes.`,
  `- Reproduce: \`npm run study -- --budget ${values.budget}${values.dataset ? ` --dataset ${values.dataset}` : ''} --workers ${workers}\` (or, against a running cluster, \`quantlab sweep --preset paper --budget ${values.budget}${values.dataset ? ` --dataset ${values.dataset}` : ''}\` then \`quantlab report SWEEP_ID\`).`,
  '',
].join('\n');
const svgPath = values.out!.replace(/\.md$/, '') + '.svg';
writeFileSync(svgPath, relativeAccuracyChart(sweep));
const costs = costSvgPaths(svgPath);
for (const axis of Object.keys(costs) as CostAxis[]) writeFileSync(costs[axis], costChart(sweep.name, sweep.summary, axis));
writeFileSync(values.out!, sweepReportMarkdown(sweep, { svgPath, notes }));
console.log(`study: wrote ${values.out}`);
stopAll();
setTimeout(() => process.exit(0), 2000).unref();
