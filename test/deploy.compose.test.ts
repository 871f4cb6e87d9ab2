import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

type Service = {
  build?: { context: string; args?: Record<string, string> };
  image?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  deploy?: { replicas: number };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  command?: string[];
};

/** docker-compose 1.29 (Debian) validates and normalizes the file without a Docker engine. */
function config(env: Record<string, string> = {}): { services: Record<string, Service> } {
  // The file requires API_TOKEN (issue 14).
  const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { encoding: 'utf8', env: { ...process.env, API_TOKEN: 'compose-test-token-0123', ...env } });
  assert.equal(r.error, undefined, 'docker-compose is not installed (.ci/run installs it)');
  assert.equal(r.status, 0, r.stderr);
  return parse(r.stdout);
}

test('docker-compose.yml validates and describes the cluster', () => {
  const { services } = config();
  const { redis, api, worker } = services;
  assert.ok(redis.command!.includes('--appendonly'));
  assert.equal(api.depends_on!.redis.condition, 'service_healthy');
  assert.equal(worker.depends_on!.redis.condition, 'service_healthy');
  assert.equal(worker.deploy!.replicas, 2);
  assert.match(readFileSync('docker-compose.yml', 'utf8'), /--scale worker=/, 'the file says how to run N workers');
});

test('Redis has bounded memory and never evicts queue keys; the API needs the token and limits reads (issue 14)', () => {
  const { redis, api } = config().services;
  const cmd = redis.command!;
  assert.ok(cmd.includes('--maxmemory'), cmd.join(' '));
  assert.equal(cmd[cmd.indexOf('--maxmemory-policy') + 1], 'noeviction');
  assert.equal(api.environment!.API_TOKEN, 'compose-test-token-0123');
  assert.equal(api.environment!.RATE_LIMIT_READ_MAX, '1200');
  const env = { ...process.env };
  delete env.API_TOKEN;
  const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { encoding: 'utf8', env });
  assert.notEqual(r.status, 0, 'docker-compose refuses to start the cluster without API_TOKEN');
  assert.match(r.stderr, /API_TOKEN/);
});

test('the worker runs the image the API builds from this checkout, never a registry pull', () => {
  const { services } = config();
  const { api, worker } = services;
  assert.equal(api.image, 'quantlab:local');
  assert.equal(worker.image, api.image);
  assert.deepEqual(worker.build, api.build, 'both name the same build, so a fresh machine builds it (no pull of an unpublished image)');
  assert.ok(api.build);
});

test('API and workers have healthchecks on their /healthz; the worker serves its metrics for it', () => {
  const { api, worker } = config().services;
  assert.match(api.healthcheck!.test.join(' '), /127\.0\.0\.1:3000\/healthz/);
  assert.match(worker.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${worker.environment!.METRICS_PORT}/healthz`));
  // SIGTERM hands runs back within SHUTDOWN_TIMEOUT_MS (+5 s backstop), before Docker's kill.
  assert.ok(Number(worker.environment!.SHUTDOWN_TIMEOUT_MS) + 5_000 < Number.parseInt(worker.stop_grace_period!) * 1000);
});

test('the build records the git commit for provenance; ./data is bind-mounted for datasets', () => {
  const { api, worker } = config({ GIT_COMMIT: 'abc123def' }).services;
  assert.equal(api.build!.args!.GIT_COMMIT, 'abc123def');
  for (const s of [api, worker]) assert.ok(s.volumes!.some((v) => /\/data:\/data:ro$/.test(v) && !v.startsWith('datasets')), JSON.stringify(s.volumes));
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  assert.match(dockerfile, /^ARG GIT_COMMIT/m);
  assert.match(dockerfile, /QUANTLAB_GIT_COMMIT=\$GIT_COMMIT/);
});

test('the Dockerfile is multi-stage on Node 24 and runs as a non-root user', () => {
  const text = readFileSync('Dockerfile', 'utf8');
  const froms = text.match(/^FROM \S+/gm) ?? [];
  assert.ok(froms.length >= 2);
  for (const f of froms) assert.match(f, /^FROM node:24-/);
  assert.match(text, /^USER (?!root)\S+/m);
  assert.match(text, /tfjs-node/);
  // engines stays >=20.6: this machine's Node 20 keeps working.
  assert.equal(JSON.parse(readFileSync('package.json', 'utf8')).engines.node, '>=20.6');
});
