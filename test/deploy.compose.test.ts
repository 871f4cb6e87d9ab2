import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

// No Docker engine runs here: docker-compose 1.29 (Debian) validates and normalizes the file without one.
test('docker-compose.yml validates and describes the cluster', () => {
  const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { encoding: 'utf8', env: { ...process.env, API_TOKEN: 'compose-test-token-0123' } });
  assert.equal(r.error, undefined, 'docker-compose is not installed (.ci/run installs it)');
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /redis:\n/);
  assert.match(out, /appendonly/);
  assert.match(out, /condition: service_healthy/);
  assert.match(out, /replicas: 2/);
  assert.match(out, /published: 3000|3000:3000|target: 3000/);
  assert.match(out, /datasets:/);
  // Issue 14: bounded memory that never evicts queue keys, reads rate-limited, the token passed through.
  assert.match(out, /--maxmemory[\s\S]*--maxmemory-policy[\s\S]*noeviction/);
  assert.match(out, /RATE_LIMIT_READ_MAX: '1200'/);
  assert.match(out, /API_TOKEN: compose-test-token-0123/);
});

test('docker-compose refuses to start the cluster without API_TOKEN', () => {
  const env = { ...process.env };
  delete env.API_TOKEN;
  const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { encoding: 'utf8', env });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /API_TOKEN/);
});

test('the Dockerfile is multi-stage and runs as a non-root user', () => {
  const text = readFileSync('Dockerfile', 'utf8');
  assert.ok((text.match(/^FROM /gm) ?? []).length >= 2);
  assert.match(text, /^USER (?!root)\S+/m);
  assert.match(text, /tfjs-node/);
});
