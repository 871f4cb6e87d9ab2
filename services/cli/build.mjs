// Bundles the CLI (src/main.ts and the commands it loads) into dist/ with esbuild, so `quantlab` starts without
// transpiling TypeScript. Run by the root postinstall script and by the CLI tests (`npm run build:cli` after an edit).
// npm packages stay external (node_modules resolves them); the workspace packages' TypeScript is bundled.
// The commands that train (train, work, eval) are left out: bin/quantlab.js runs them from source through tsx, since
// they load TensorFlow.js and the worker's sandboxed processor by file path, and take minutes anyway.
import { build } from 'esbuild';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const outdir = join(here, 'dist');
export const FROM_SOURCE = ['train', 'work', 'eval'];

const root = JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8'));
const external = Object.keys({ ...root.dependencies, ...root.optionalDependencies, ...root.devDependencies });

const fromSource = {
  name: 'from-source',
  setup(b) {
    const filter = new RegExp(`[/\\\\]commands[/\\\\](${FROM_SOURCE.join('|')})\\.ts$`);
    b.onLoad({ filter }, () => ({ contents: 'export async function run() { throw new Error("this command runs from source: use bin/quantlab.js"); }', loader: 'js' }));
  },
};

/** Builds dist/ (entry main.js plus one chunk per command) and returns the files' total size in bytes. */
export async function buildCli() {
  // Built beside dist/ and swapped in, so a quantlab started meanwhile sees the old bundle or, for a moment, none
  // (the bin then runs the sources), never a half-written one.
  const tmp = `${outdir}.${process.pid}.tmp`;
  const old = `${outdir}.${process.pid}.old`;
  rmSync(tmp, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: here,
    entryPoints: { main: 'src/main.ts' },
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: ['node20'],
    external,
    plugins: [fromSource],
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  try {
    renameSync(outdir, old);
  } catch {
    /* no bundle yet */
  }
  renameSync(tmp, outdir);
  rmSync(old, { recursive: true, force: true });
  return Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bytes = await buildCli();
  console.log(`cli: built services/cli/dist (${(bytes / 1024).toFixed(1)} KiB)`);
}
