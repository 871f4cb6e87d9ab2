/**
 * Loads the optional oneDNN addon (built at install time by scripts/build.mjs). Returns the addon or why it is absent,
 * never throws: without it everything runs on TF.js's wasm kernels.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The addon's functions. `heap` is the wasm backend's heap (a Uint8Array over its WebAssembly.Memory, taken afresh
 * for each call since it can grow); tensors are byte offsets into it; -1 means "no such operand". Geometry arrays:
 * conv [n, h, w, c, o, kh, kw, oh, ow, sh, sw, padTop, padLeft, padBottom, padRight, dilationH, dilationW],
 * matmul [batch, m, k, n, transposeA, transposeB], pool [n, h, w, c, oh, ow, kh, kw, sh, sw, padTop, padLeft, padBottom,
 * padRight].
 */
export interface NativeKernels {
  convForward(heap: Uint8Array, x: number, filter: number, bias: number, y: number, conv: Int32Array, relu: boolean): void;
  convBackwardData(heap: Uint8Array, dy: number, filter: number, dx: number, conv: Int32Array): void;
  convBackwardWeights(heap: Uint8Array, x: number, dy: number, dw: number, dbias: number, conv: Int32Array): void;
  matmul(heap: Uint8Array, a: number, b: number, bias: number, c: number, dims: Int32Array, relu: boolean): void;
  /** dx of a max pooling (x needed) or an average pooling that excludes padding (x = -1). */
  poolBackward(heap: Uint8Array, x: number, dy: number, dx: number, pool: Int32Array, max: boolean): void;
  /** Nearest-entry dictionary encoding (decoded values), bit for bit representations/dictionary.ts's quantizeDictionary. */
  quantizeDictionary(src: Float32Array, entries: Float32Array, mids: Float64Array, scales: Float64Array, dst: Float32Array): void;
  setThreads(n: number): void;
  threads(): number;
  /** One line per primitive created: its shape key and oneDNN's implementation name. */
  implementations(): string[];
  version(): string;
  clearCache(): void;
}

const root = join(import.meta.dirname, '..');
const ADDON = join(root, 'build/Release/quantlab_native.node');
const ENABLE = 'apt-get install -y libdnnl-dev g++ make python3, then npm rebuild';

/**
 * Why the addon is absent, from the line the install script left (build/status.txt): its reason when the build did
 * not happen or failed. A line saying it was built is stale (the file was removed since) and would tell the user the
 * opposite of what happened.
 */
export function absentReason(statusText: string | null): string {
  const line = statusText?.trim();
  if (!line || /^@quantlab\/native: built\b/.test(line)) return `the oneDNN addon is not built (${ENABLE})`;
  return line;
}

let loaded: { kernels: NativeKernels | null; reason: string } | undefined;

export function loadNative(): { kernels: NativeKernels | null; reason: string } {
  if (loaded) return loaded;
  if (!existsSync(ADDON)) {
    const status = join(root, 'build/status.txt');
    loaded = { kernels: null, reason: absentReason(existsSync(status) ? readFileSync(status, 'utf8') : null) };
    return loaded;
  }
  try {
    const kernels = createRequire(import.meta.url)(ADDON) as NativeKernels;
    loaded = { kernels, reason: `oneDNN ${kernels.version()}` };
  } catch (e) {
    loaded = { kernels: null, reason: `the oneDNN addon failed to load: ${(e as Error).message.split('\n')[0]} (${ENABLE})` };
  }
  return loaded;
}
