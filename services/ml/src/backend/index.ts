/**
 * Chooses the TF.js backend a process trains on (TFJS_BACKEND): tfjs-node's native TensorFlow where it is installed
 * and loads, else the wasm backend with the oneDNN kernels where the addon loads ('wasm+onednn'), else plain wasm
 * with our composed gradient kernels; the pure-JS cpu backend on request.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { loadNative } from '@quantlab/native';
import { registerWasmKernels } from '../kernels/wasm/register.ts';
import { registerNativeKernels } from '../kernels/native/register.ts';
import { nativeKernelsOn } from '../kernels/native/common.ts';

export type BackendChoice = 'auto' | 'tensorflow' | 'native' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'native', 'wasm', 'cpu'];
/** The name metrics and the worker registry give the wasm backend running the oneDNN kernels. */
export const NATIVE_BACKEND = 'wasm+onednn';

export interface BackendOptions {
  /** oneDNN threads for the native kernels (NATIVE_THREADS); one per worker process by default. */
  threads?: number;
}

/** The backend a process uses, and one line saying why (which faster ones were not taken, and why not). */
export interface BackendSelection {
  name: string;
  reason: string;
}

/** The backend cannot be used as asked (a config problem: retrying will not help). */
export class BackendError extends Error {}

const require = createRequire(import.meta.url);
let tfjsNodeError: string | null | undefined;

/**
 * Loads @tensorflow/tfjs-node once. It is an optionalDependency whose install script downloads libtensorflow, so it
 * is absent (or its native binding fails to load) on machines that cannot reach that host. Returns why it failed.
 */
function loadTfjsNode(): string | null {
  if (tfjsNodeError !== undefined) return tfjsNodeError;
  try {
    // A CommonJS package: requiring it registers the 'tensorflow' backend in the shared (global) TF.js engine.
    require('@tensorflow/tfjs-node');
    tfjsNodeError = tf.findBackendFactory('tensorflow')
      ? null
      : '@tensorflow/tfjs-node loaded but registered no "tensorflow" backend (a second @tensorflow/tfjs-core version? align it with @tensorflow/tfjs)';
  } catch (e) {
    const code = (e as { code?: string }).code;
    tfjsNodeError =
      code === 'MODULE_NOT_FOUND'
        ? '@tensorflow/tfjs-node is not installed (its install script downloads libtensorflow; run `npm install` where that host is reachable)'
        : `@tensorflow/tfjs-node failed to load: ${(e as Error).message.split('\n')[0]}`;
  }
  return tfjsNodeError;
}

/** True when `TFJS_BACKEND=auto` would pick tfjs-node. */
export function tfjsNodeAvailable(): boolean {
  return loadTfjsNode() === null;
}

async function activate(name: string): Promise<void> {
  if (tf.getBackend() === name) return;
  const ok = await tf.setBackend(name);
  if (!ok) throw new BackendError(`TF.js backend "${name}" failed to initialize`);
  await tf.ready();
}

/**
 * Sets the process's backend and says why. Safe to call repeatedly (tests switch between backends in one process:
 * 'wasm' after 'native' turns the native kernels off again).
 */
export async function selectBackend(choice: BackendChoice = 'auto', opts: BackendOptions = {}): Promise<BackendSelection> {
  let nodeWhy: string | null = null;
  if (choice === 'tensorflow' || choice === 'auto') {
    nodeWhy = loadTfjsNode();
    if (nodeWhy === null) {
      try {
        await activate('tensorflow');
        return { name: tf.getBackend(), reason: 'tfjs-node (native TensorFlow) loaded' };
      } catch (e) {
        if (choice === 'tensorflow') throw new BackendError(`TFJS_BACKEND=tensorflow: ${(e as Error).message}`);
        // auto: a native binding that loads but cannot start falls back to wasm.
        nodeWhy = `tfjs-node failed to start: ${(e as Error).message}`;
      }
    } else if (choice === 'tensorflow') {
      throw new BackendError(`TFJS_BACKEND=tensorflow: ${nodeWhy}; use TFJS_BACKEND=auto, native or wasm`);
    }
  }
  if (choice === 'cpu') {
    await activate('cpu');
    return { name: 'cpu', reason: 'TFJS_BACKEND=cpu asks for the pure-JS backend' };
  }
  registerWasmKernels();
  const native = loadNative();
  if (choice === 'native' && !native.kernels) throw new BackendError(`TFJS_BACKEND=native: ${native.reason}`);
  const useNative = native.kernels !== null && choice !== 'wasm';
  if (native.kernels) {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new BackendError(`native threads must be a positive integer, not ${threads}`);
    native.kernels.setThreads(threads);
    registerNativeKernels(native.kernels, useNative);
  }
  await activate('wasm');
  const notNode = nodeWhy ? `; tensorflow not taken: ${nodeWhy}` : '';
  if (useNative) {
    const threads = native.kernels!.threads();
    return { name: NATIVE_BACKEND, reason: `wasm with ${native.reason} kernels, ${threads} thread${threads === 1 ? '' : 's'}${notNode}` };
  }
  const why = choice === 'wasm' ? 'TFJS_BACKEND=wasm asks for plain wasm' : `native kernels not taken: ${native.reason}`;
  return { name: 'wasm', reason: `${why}${notNode}` };
}

/** Sets the process's backend and returns its name ('tensorflow' | 'wasm+onednn' | 'wasm' | 'cpu'). */
export async function initBackend(choice: BackendChoice = 'auto', opts: BackendOptions = {}): Promise<string> {
  return (await selectBackend(choice, opts)).name;
}

/** The backend currently in use: 'wasm+onednn' while the native kernels are on. */
export function currentBackend(): string {
  const name = tf.getBackend();
  return name === 'wasm' && nativeKernelsOn() ? NATIVE_BACKEND : name;
}
