#!/usr/bin/env node
// Entry point of the `quantlab` command. Runs the bundle that install built (services/cli/build.mjs: no TypeScript
// to transpile, so a command answers in a fraction of a second). The commands that train, a checkout without the
// bundle, and one whose CLI or client sources changed since it was built run from the sources through tsx.
import { existsSync, readdirSync, statSync } from 'node:fs';

const FROM_SOURCE = new Set(['train', 'work', 'eval']); // keep in step with build.mjs
const bundle = new URL('../dist/main.js', import.meta.url);

/** The newest modification time under a directory (a few dozen files: about a millisecond). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = new URL(e.name + (e.isDirectory() ? '/' : ''), dir);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function bundleIsFresh() {
  if (!existsSync(bundle)) return false;
  const built = statSync(bundle).mtimeMs;
  const sources = [new URL('../src/', import.meta.url), new URL('../../client/src/', import.meta.url)].filter((d) => existsSync(d));
  return sources.every((d) => newest(d) <= built);
}

if (!FROM_SOURCE.has(process.argv[2] ?? '') && bundleIsFresh()) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
