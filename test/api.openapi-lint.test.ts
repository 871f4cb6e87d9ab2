// The served OpenAPI document passes Redocly's recommended rules with no error and no warning, and keeps one
// component per shape: the typed clients are generated from it, so what it says is what they get.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

const env = testEnv('openapi-lint');
const app = await buildApp({ env, logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const dir = mkdtempSync(join(tmpdir(), 'ql-openapi-'));
after(async () => {
  await app.close();
  await env.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Spec {
  servers: { url: string }[];
  info: { license?: { name: string } };
  paths: Record<string, Record<string, { operationId?: string; responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> }>>;
  components: { schemas: Record<string, unknown> };
}

test('redocly lint (recommended) of the served /openapi.json: 0 errors, 0 warnings', { timeout: 60_000 }, async () => {
  const res = await fetch(`${url}/openapi.json`);
  assert.equal(res.status, 200);
  const file = join(dir, 'openapi.json');
  writeFileSync(file, await res.text());
  // A config of our own, so a redocly.yaml lying around cannot relax the rules; no telemetry, no update check.
  const config = join(dir, 'redocly.yaml');
  writeFileSync(config, 'extends:\n  - recommended\n');
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      ['node_modules/@redocly/cli/bin/cli.js', 'lint', file, '--config', config, '--format', 'json'],
      { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' }, timeout: 50_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
  const report = JSON.parse(out.stdout) as { totals: { errors: number; warnings: number; ignored: number }; problems: { ruleId: string; message: string }[] };
  const problems = report.problems.map((p) => `${p.ruleId}: ${p.message}`);
  assert.deepEqual(problems, []);
  assert.deepEqual(report.totals, { errors: 0, warnings: 0, ignored: 0 });
  assert.equal(out.code, 0, out.stderr);
});

test('operation ids are unique; binary bodies say format: binary; no component twice or unused', async () => {
  const spec = (await (await fetch(`${url}/openapi.json`)).json()) as Spec;
  assert.ok(spec.servers.length >= 1);
  assert.equal(spec.info.license?.name, 'MIT');
  const ids = Object.values(spec.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
  assert.ok(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id)), JSON.stringify(ids));
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual(spec.paths['/experiments/{id}/artifact'].get.responses['200'].content?.['application/octet-stream'].schema, { type: 'string', format: 'binary' });
  const names = Object.keys(spec.components.schemas);
  // An XInput stays only where the request shape really differs from the response shape (defaults make fields optional).
  for (const n of names.filter((n) => n.endsWith('Input'))) {
    const out = n.slice(0, -'Input'.length);
    assert.ok(names.includes(out), `${n} without ${out} should be called ${out}`);
    assert.notDeepEqual(spec.components.schemas[n], spec.components.schemas[out], `${n} duplicates ${out}`);
  }
  assert.ok(names.includes('RunDocument') && !names.includes('RunDocumentInput'));
  assert.ok(names.includes('SweepRequest'));
});

test('/healthz refuses query parameters with a 400 problem (its documented 4xx)', async () => {
  const res = await fetch(`${url}/healthz?verbose=1`);
  assert.equal(res.status, 400);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
});
