// After install: report whether the optional oneDNN kernels were built (npm hides a workspace's own install output,
// so its one status line is printed here), then build the dashboard's static bundle, so `npm ci` leaves a servable UI.
// The dashboard step is skipped quietly when dev dependencies are absent (the Dockerfile's build stage builds it).
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const nativeStatus = 'services/native/build/status.txt';
if (existsSync(nativeStatus)) process.stdout.write(readFileSync(nativeStatus, 'utf8'));

if (existsSync('services/dashboard/build.mjs') && existsSync('node_modules/esbuild')) {
  const r = spawnSync(process.execPath, ['services/dashboard/build.mjs'], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
