// `quantlab status SWEEP --follow` exits as `quantlab sweep --wait` does: 0 when every run completed or was stopped
// early by the sweep's stopping rule (an outcome of the search), 1 when one failed. Finished runs are stored directly,
// so no worker is needed; the API and the CLI are the real ones.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { ExperimentConfig, RunStore, SweepStore, newRunDocument, type RunDocument } from '@quantlab/shared';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

const env = testEnv('cli-status-follow');
const app = await buildApp({ env, logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const redis = new Redis(env.REDIS_URL);
after(async () => {
  redis.disconnect();
  await app.close();
  await env.cleanup();
});
const runs = new RunStore(redis, env.KEY_PREFIX);
const sweeps = new SweepStore(redis, env.KEY_PREFIX);

const config = (representation: unknown) => ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', representation, training: { epochs: 3 } });
const ended = (doc: RunDocument, status: 'completed' | 'stopped' | 'failed'): RunDocument => ({
  ...doc,
  status,
  metrics: { testAccuracy: 0.8, trainLoss: 0.1, durationMs: 1, backend: 'cpu', weightBytes: { float32: 400_000, compact: 100_000 }, compressionRatio: 4 },
  progress: { epoch: status === 'completed' ? 3 : 1, epochs: 3, fraction: status === 'completed' ? 1 : 1 / 3 },
  ...(status === 'stopped' ? { stopped: { epoch: 1, reason: 'median rule: below the median' } } : {}),
  ...(status === 'failed' ? { error: { message: 'it broke' } } : {}),
  finishedAt: new Date().toISOString(),
});

async function sweepWith(id: string, last: 'stopped' | 'failed'): Promise<string> {
  const now = Date.now();
  const baseline = ended(newRunDocument(config({ kind: 'float32' }), { id: `run_${id}b`, sweepId: id, createdAt: new Date(now).toISOString() }), 'completed');
  const a = ended(newRunDocument(config({ kind: 'fixed', bits: 8 }), { id: `run_${id}8`, sweepId: id, baselineId: baseline.id, createdAt: new Date(now + 1).toISOString() }), 'completed');
  const b = ended(newRunDocument(config({ kind: 'fixed', bits: 2 }), { id: `run_${id}2`, sweepId: id, baselineId: baseline.id, createdAt: new Date(now + 2).toISOString() }), last);
  await runs.createMany([baseline, a, b]);
  await sweeps.create({ id, name: id, createdAt: new Date(now).toISOString(), preset: null, budget: null, request: {}, runIds: [baseline.id, a.id, b.id], baselines: { '1': baseline.id } });
  return id;
}

function quantlab(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['services/cli/bin/quantlab.js', ...args], { env: { ...process.env, QUANTLAB_URL: url, QUANTLAB_TOKEN: '' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill(), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('status SWEEP --follow exits 0 when the runs completed or were stopped by the rule, 1 when one failed', { timeout: 120_000 }, async () => {
  const ok = await quantlab('status', await sweepWith('swp_followstop1', 'stopped'), '--follow');
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /1 stopped early/);
  const bad = await quantlab('status', await sweepWith('swp_followfail1', 'failed'), '--follow');
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
});
