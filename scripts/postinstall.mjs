// After install: reports whether the optional oneDNN kernels were built (npm hides a workspace's own install output,
// so its one status line is printed here), generates the typed API client from the OpenAPI document, bundles the
// CLI, builds the dashboard, so `npm ci` leaves a fast `quantlab` and a servable UI. Skipped quietly when dev dependencies are absent (a
// production install builds them in the Dockerfile's build stage).
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const nativeStatus = 'services/native/build/status.txt';
if (existsSync(nativeStatus)) process.stdout.write(readFileSync(nativeStatus, 'utf8'));

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
