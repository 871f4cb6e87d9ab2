// quantlab's architecture rules for ESLint: imports point one way (layers) and never go round (cycles).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importCycles, importGraph, layerViolation, resolveImport } from './import-graph.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// One graph per lint run (ESLint lints every file in one process).
let cached = null;
function cycleOf(file) {
  if (!cached) {
    const graph = importGraph(ROOT);
    cached = new Map();
    for (const scc of importCycles(graph)) for (const f of scc) cached.set(f, new Set(scc));
  }
  return cached.get(file) ?? null;
}

function sources(node) {
  if ((node.type === 'ImportDeclaration' || node.type === 'ExportAllDeclaration' || node.type === 'ExportNamedDeclaration') && node.source) return node.source;
  if (node.type === 'ImportExpression' && node.source.type === 'Literal') return node.source;
  return null;
}

function importRule(check) {
  return {
    meta: { type: 'problem', schema: [] },
    create(context) {
      const file = context.filename;
      const visit = (node) => {
        const src = sources(node);
        if (!src || typeof src.value !== 'string') return;
        const target = resolveImport(ROOT, file, src.value);
        if (!target) return;
        const message = check(file, target);
        if (message) context.report({ node: src, message });
      };
      return { ImportDeclaration: visit, ExportAllDeclaration: visit, ExportNamedDeclaration: visit, ImportExpression: visit };
    },
  };
}

export default {
  rules: {
    'no-import-cycle': importRule((file, target) => (cycleOf(file)?.has(target) ? `import cycle: ${target.slice(ROOT.length + 1)} imports this file back (directly or through others)` : null)),
    layers: importRule((file, target) => layerViolation(ROOT, file, target)),
  },
};

/** Redis hash commands: only a store/ folder may issue them (RunStore alone knows a run's hash). */
export const HASH_COMMANDS = ['hget', 'hset', 'hsetnx', 'hmset', 'hmget', 'hgetall', 'hdel', 'hexists', 'hincrby', 'hincrbyfloat', 'hkeys', 'hvals', 'hlen', 'hscan', 'hstrlen', 'hrandfield', 'hgetdel', 'hgetex', 'hsetex'];
const names = HASH_COMMANDS.join('|');
export const HASH_COMMAND_SELECTORS = [
  {
    selector: `CallExpression > MemberExpression.callee > Identifier.property[name=/^(${names})(Buffer)?$/i]`,
    message: 'Redis hash commands belong in a store/ folder (RunStore owns the run hash): ask the store.',
  },
  {
    selector: `CallExpression[callee.property.name=/^(call|callBuffer|sendCommand|send_command)$/] > Literal[value=/^(${names})$/i]`,
    message: 'Redis hash commands belong in a store/ folder (RunStore owns the run hash): ask the store.',
  },
  {
    selector: `TemplateElement[value.raw=/redis\\.call\\(\\s*'(${names})'/i], Literal[value=/redis\\.call\\(\\s*'(${names})'/i]`,
    message: 'Lua that issues Redis hash commands belongs in a store/ folder.',
  },
];
