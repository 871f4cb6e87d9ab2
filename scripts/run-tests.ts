// Node 20's `node --test` neither expands globs nor picks up .ts files: find the test files and name them.
//   run-tests.ts [substring...]   every test file (or those whose path contains one of the substrings)
//   run-tests.ts --fast           the fast tier, test/fast/: unit tests against fakes, no Redis, under a minute
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** The fast tier's budget: over it, the tier fails (a test that needs more belongs in the full suite). */
const FAST_BUDGET_MS = 60_000;

function find(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'helpers' || name === 'fixtures' ? [] : find(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const args = process.argv.slice(2);
const fast = args.includes('--fast');
const filter = args.filter((a) => a !== '--fast');
const files = find(fast ? join('test', 'fast') : 'test')
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
// The tests run `quantlab` through its bin, which runs the CLI's bundle: build it from the sources under test.
const built = spawnSync(process.execPath, ['services/cli/build.mjs'], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);
// The fast tier gets a Redis URL nothing answers at: a test that reaches for Redis fails instead of passing slowly.
const env = fast ? { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' } : process.env;
const t0 = Date.now();
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env });
const ms = Date.now() - t0;
if (fast) {
  console.error(`run-tests: fast tier, ${files.length} files in ${(ms / 1000).toFixed(1)} s (budget ${FAST_BUDGET_MS / 1000} s)`);
  if (r.status === 0 && ms > FAST_BUDGET_MS) process.exit(1);
}
process.exit(r.status ?? 1);
