#!/usr/bin/env node
// Entry point of the `quantlab` command. Runs the bundle that install built (services/cli/build.mjs: no TypeScript
// to transpile, so a command answers in a fraction of a second); the commands that train, or a checkout whose
// bundle was not built, run from the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const FROM_SOURCE = new Set(['train', 'work', 'eval']); // keep in step with build.mjs
const bundle = new URL('../dist/main.js', import.meta.url);

if (!FROM_SOURCE.has(process.argv[2] ?? '') && existsSync(bundle)) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
