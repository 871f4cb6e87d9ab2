// The architecture rules that lint enforces (scripts/eslint/): only store/ folders issue Redis hash commands, imports
// point one way and never go round. These tests show the rules hold for the code and catch what they must catch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { importCycles, importGraph, layerViolation } from '../scripts/eslint/import-graph.js';

const ROOT = process.cwd();
const eslint = new ESLint({ cwd: ROOT });

async function lint(path: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return r.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

test('a Redis hash command outside a store/ folder is a lint error, in a store/ folder it is not', async () => {
  const calls = [
    "export const f = (r: any) => r.hget('k', 'status');",
    "export const f = (r: any) => r.pipeline().hmget('k', 'a', 'b');",
    "export const f = (r: any) => r.hgetallBuffer('k');",
    "export const f = (r: any) => r.call('HSET', 'k', 'f', 'v');",
    "export const LUA = `redis.call('HSET', KEYS[1], 'a', ARGV[1])`;",
  ];
  for (const code of calls) {
    assert.equal((await lint('services/api/src/services/probe.ts', code)).length, 1, code);
    assert.deepEqual(await lint('services/shared/src/store/probe.ts', code), [], code);
  }
  assert.deepEqual(await lint('services/api/src/services/probe.ts', "export const f = (r: any) => r.get('k'); export const s = 'hget';"), [], 'other commands and plain strings pass');
});

test('the code has no import cycle and no import against the layers', () => {
  const graph = importGraph(ROOT);
  assert.ok(graph.size > 100, 'the graph covers the workspaces');
  assert.deepEqual(importCycles(graph), []);
  const violations: string[] = [];
  for (const [from, deps] of graph) for (const to of deps) if (layerViolation(ROOT, from, to)) violations.push(`${from} -> ${to}`);
  assert.deepEqual(violations, []);
});

test('the rules catch a cycle and imports that point the wrong way', () => {
  const g = new Map([
    ['a', new Set(['b'])],
    ['b', new Set(['c'])],
    ['c', new Set(['a'])],
    ['d', new Set(['a'])],
  ]);
  assert.deepEqual(importCycles(g), [['a', 'b', 'c']]);
  const f = (p: string) => join(ROOT, 'services', p);
  assert.match(layerViolation(ROOT, f('ml/src/artifact/pack.ts'), f('ml/src/representations/types.ts'))!, /higher layer/);
  assert.match(layerViolation(ROOT, f('ml/src/datasets/index.ts'), f('ml/src/training/types.ts'))!, /higher layer/);
  assert.match(layerViolation(ROOT, f('api/src/app.ts'), f('ml/src/index.ts'))!, /may not import from ml \(only from ml\/export\)/);
  assert.match(layerViolation(ROOT, f('api/src/app.ts'), f('ml/src/artifact/decode.ts'))!, /may not import from ml/);
  assert.equal(layerViolation(ROOT, f('api/src/services/experiments.ts'), f('ml/src/export/index.ts')), null);
  assert.match(layerViolation(ROOT, f('shared/src/schemas/run.ts'), f('shared/src/store/run-store.ts'))!, /higher layer/);
  assert.equal(layerViolation(ROOT, f('ml/src/representations/float32.ts'), f('ml/src/artifact/pack.ts')), null);
  assert.equal(layerViolation(ROOT, f('worker/src/worker.ts'), f('shared/src/index.ts')), null);
});

test('the API loads no TF.js: nothing ml/src/export imports, directly or through other files, imports @tensorflow', () => {
  const graph = importGraph(ROOT);
  const start = join(ROOT, 'services/ml/src/export/index.ts');
  const seen = new Set([start]);
  const queue = [start];
  while (queue.length) {
    for (const dep of graph.get(queue.pop()!) ?? []) {
      if (seen.has(dep)) continue;
      seen.add(dep);
      queue.push(dep);
    }
  }
  assert.ok(seen.has(join(ROOT, 'services/ml/src/models/graphs.ts')) && seen.has(join(ROOT, 'services/ml/src/artifact/decode.ts')), 'the closure is walked');
  const loading = [...seen].filter((file) => /from\s+['"]@tensorflow\/|import\(\s*['"]@tensorflow\//.test(readFileSync(file, 'utf8')));
  assert.deepEqual(loading, []);
});
