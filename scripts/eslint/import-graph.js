// The import graph of services/*/src, for the architecture lint rules (quantlab-plugin.js) and their test.
// Plain JavaScript: eslint.config.js loads it without a TypeScript loader.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s(?:[^;'"]*?\sfrom\s)?\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function listTs(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'public' ? [] : listTs(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Where an import specifier points, as an absolute .ts path inside the repository (null: a package from npm). */
export function resolveImport(root, fromFile, spec) {
  let target = null;
  if (spec.startsWith('.')) target = resolve(dirname(fromFile), spec);
  else {
    const m = /^@quantlab\/([^/]+)(?:\/(.+))?$/.exec(spec);
    if (!m) return null;
    target = join(root, 'services', m[1], 'src', m[2] ? m[2] : 'index');
  }
  for (const candidate of [target, `${target}.ts`, join(target, 'index.ts')]) if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  return null;
}

/** Every import (static, re-export, dynamic; type-only ones too) between the source files of the workspaces. */
export function importGraph(root) {
  const files = readdirSync(join(root, 'services')).flatMap((ws) => {
    const src = join(root, 'services', ws, 'src');
    return existsSync(src) ? listTs(src) : [];
  });
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
    const deps = new Set();
    for (const m of text.matchAll(IMPORT_RE)) {
      const target = resolveImport(root, file, m[1] ?? m[2]);
      if (target) deps.add(target);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** The import cycles: strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function importCycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)?.has(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/**
 * Which workspaces each may import (the layers: shared <- ml <- worker <- cli; api and dashboard on shared alone, except
 * that api may use ml's export folder, which loads no TF.js (test/architecture.rules.test.ts checks its imports); client,
 * the API client generated from the OpenAPI document, stands alone under cli and dashboard; native, the optional oneDNN
 * addon, stands alone under ml; a 'workspace/folder' entry allows that folder only), and
 * inside ml and shared the rank of each folder: a file may import its own folder or a lower rank, never a higher one.
 * Files at a workspace's top level have the rank given under '.' (index.ts, the barrel, is above everything).
 */
export const LAYERS = {
  workspaces: { shared: [], client: [], native: [], ml: ['shared', 'native'], worker: ['shared', 'ml'], api: ['shared', 'ml/export'], cli: ['shared', 'client', 'ml', 'worker'], dashboard: ['shared', 'client'] },
  folders: {
    shared: { schemas: 0, '.': 1, models: 1, store: 2, sweeps: 2 },
    ml: { '.': 0, kernels: 1, artifact: 1, datasets: 1, backend: 2, models: 2, representations: 2, training: 3, export: 3 },
  },
};

/** Where a file sits: its workspace and its first folder under src ('.' at the top level; 'index' for the barrel). */
export function placeOf(root, file) {
  const parts = relative(join(root, 'services'), file).split(sep);
  const ws = parts[0];
  const inSrc = parts.slice(2);
  const folder = inSrc.length === 1 ? (inSrc[0] === 'index.ts' ? 'index' : '.') : inSrc[0];
  return { ws, folder };
}

/** Why an import breaks the layers, or null. */
export function layerViolation(root, from, to) {
  const a = placeOf(root, from);
  const b = placeOf(root, to);
  if (a.ws !== b.ws) {
    const allowed = LAYERS.workspaces[a.ws];
    if (allowed && !allowed.includes(b.ws) && !allowed.includes(`${b.ws}/${b.folder}`)) {
      const folders = allowed.filter((w) => w.startsWith(`${b.ws}/`));
      return `the ${a.ws} workspace may not import from ${b.ws}${folders.length ? ` (only from ${folders.join(', ')})` : ''}`;
    }
    return null;
  }
  const ranks = LAYERS.folders[a.ws];
  if (!ranks || a.folder === b.folder) return null;
  if (b.folder === 'index') return `import the module itself, not ${a.ws}'s index.ts barrel, from inside ${a.ws}`;
  if (a.folder === 'index') return null;
  const ra = ranks[a.folder];
  const rb = ranks[b.folder];
  if (ra === undefined || rb === undefined) return `${a.ws}/${ra === undefined ? a.folder : b.folder} has no place in LAYERS (scripts/eslint/import-graph.js)`;
  if (rb > ra) return `${a.ws}/${a.folder} may not import from ${a.ws}/${b.folder} (a higher layer)`;
  if (rb === ra) return `${a.ws}/${a.folder} and ${a.ws}/${b.folder} are on one layer: neither may import the other`;
  return null;
}
