// Builds the oneDNN addon at install time when it can, and otherwise says in ONE line what is missing and how to
// enable it: the addon is optional (everything runs on TF.js's wasm backend without it), so `npm ci` never fails here.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';

const here = join(dirname(new URL(import.meta.url).pathname), '..');
const ENABLE = 'apt-get install -y libdnnl-dev g++ make python3, then npm rebuild';
// npm hides a workspace's install output, so the line also goes to build/status.txt for the root postinstall to print.
const say = (line) => {
  mkdirSync(join(here, 'build'), { recursive: true });
  writeFileSync(join(here, 'build/status.txt'), `@quantlab/native: ${line}\n`);
  console.log(`@quantlab/native: ${line}`);
};

if (process.env.QUANTLAB_NATIVE === '0') {
  say('not built (QUANTLAB_NATIVE=0); training runs on wasm');
  process.exit(0);
}

const has = (cmd, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const includeDirs = ['/usr/include', '/usr/local/include', ...(process.env.DNNLROOT ? [join(process.env.DNNLROOT, 'include')] : [])];
const missing = [];
if (!includeDirs.some((d) => existsSync(join(d, 'dnnl.hpp')))) missing.push('oneDNN headers (libdnnl-dev)');
if (!has('c++') && !has('g++')) missing.push('a C++ compiler (g++)');
if (!has('make')) missing.push('make');
if (!has('python3')) missing.push('python3');
if (missing.length > 0) {
  say(`native oneDNN kernels not built: missing ${missing.join(', ')}; training runs on wasm. To enable (Debian): ${ENABLE}`);
  process.exit(0);
}

// npm tells lifecycle scripts where its bundled node-gyp is; outside npm, look next to this node.
const gyp = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].find((p) => p && existsSync(p));
if (!gyp) {
  say(`native oneDNN kernels not built: node-gyp not found (it ships with npm); training runs on wasm. To enable: ${ENABLE}`);
  process.exit(0);
}
// Node's own headers when the distribution installed them (Debian's nodejs does), so node-gyp needs no download.
const prefix = join(dirname(process.execPath), '..');
const nodedir = existsSync(join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
const r = spawnSync(process.execPath, [gyp, 'rebuild', ...nodedir], { cwd: here, encoding: 'utf8', env: { ...process.env, JOBS: '2' } });
writeFileSync(join(here, 'build/build.log'), `${r.stdout ?? ''}\n${r.stderr ?? ''}`);
if (r.status !== 0) {
  const reason = (r.stderr ?? '').split('\n').find((l) => /error/i.test(l))?.trim() ?? `node-gyp exited with ${r.status}`;
  say(`native oneDNN kernels failed to build (${reason.slice(0, 160)}; log: services/native/build/build.log); training runs on wasm`);
  process.exit(0);
}
say('built the oneDNN kernels (services/native/build/Release/quantlab_native.node)');
