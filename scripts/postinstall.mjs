// Builds the dashboard's static bundle after install, so `npm ci` leaves a servable UI.
// Skipped quietly when dev dependencies are absent (a production install builds it in the Dockerfile's build stage).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

if (existsSync('services/dashboard/build.mjs') && existsSync('node_modules/esbuild')) {
  const r = spawnSync(process.execPath, ['services/dashboard/build.mjs'], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
