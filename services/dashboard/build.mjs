// Bundles the dashboard (src/main.ts and src/styles.css, uPlot included) into public/build/ with esbuild.
// Run by the root postinstall script and by the browser tests; `--watch` rebuilds on change while developing.
// Files are written to a temporary name and renamed, so a server never hands out a half-written bundle.
import { build, context } from 'esbuild';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, 'public', 'build');

const options = {
  absWorkingDir: here,
  entryPoints: { app: 'src/main.ts', styles: 'src/styles.css' },
  outdir,
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['es2022'],
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
};

/** Builds once and returns the bundle's size in bytes by output file. */
export async function buildDashboard() {
  const result = await build({ ...options, write: false });
  mkdirSync(outdir, { recursive: true });
  const sizes = {};
  for (const file of result.outputFiles) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    writeFileSync(tmp, file.contents);
    renameSync(tmp, file.path);
    sizes[file.path.slice(outdir.length + 1)] = file.contents.length;
  }
  return sizes;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--watch')) {
    const ctx = await context(options);
    await ctx.watch();
    console.log('dashboard: watching src/ for changes');
  } else {
    const sizes = await buildDashboard();
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    console.log(`dashboard: built ${Object.keys(sizes).join(', ')} (${(total / 1024).toFixed(1)} KiB) in services/dashboard/public/build`);
  }
}
