/**
 * Chooses the TF.js backend a process trains on (TFJS_BACKEND): tfjs-node's native TensorFlow where it is installed
 * and loads, else the wasm backend with our convolution-gradient kernels, or the pure-JS cpu backend on request.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { registerWasmKernels } from '../kernels/wasm/register.ts';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

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

/** Sets the process's backend and returns its name ('tensorflow' | 'wasm' | 'cpu'). Safe to call repeatedly. */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<string> {
  if (choice === 'tensorflow' || choice === 'auto') {
    const why = loadTfjsNode();
    if (why === null) {
      try {
        await activate('tensorflow');
        return tf.getBackend();
      } catch (e) {
        if (choice === 'tensorflow') throw new BackendError(`TFJS_BACKEND=tensorflow: ${(e as Error).message}`);
        // auto: a native binding that loads but cannot start falls back to wasm.
      }
    } else if (choice === 'tensorflow') {
      throw new BackendError(`TFJS_BACKEND=tensorflow: ${why}; use TFJS_BACKEND=wasm or auto`);
    }
  }
  if (choice === 'cpu') {
    await activate('cpu');
    return tf.getBackend();
  }
  registerWasmKernels();
  await activate('wasm');
  return tf.getBackend();
}

/** The backend currently in use. */
export function currentBackend(): string {
  return tf.getBackend();
}
