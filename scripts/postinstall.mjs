// After install: generates the typed API client from the OpenAPI document, bundles the CLI, builds the dashboard,
// so `npm ci` leaves a fast `quantlab` and a servable UI. Skipped quietly when dev dependencies are absent (a
// production install builds them in the Dockerfile's build stage).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const steps = [
  ['services/client/build.ts', 'node_modules/openapi-typescript', ['--import', 'tsx']],
  ['services/cli/build.mjs', 'node_modules/esbuild', []],
  ['services/dashboard/build.mjs', 'node_modules/esbuild', []],
];
for (const [script, needs, flags] of steps) {
  if (!existsSync(script) || !existsSync(needs)) continue;
  const r = spawnSync(process.execPath, [...flags, script], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
