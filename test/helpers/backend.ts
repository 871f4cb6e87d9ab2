// The backend the suite trains on: the native oneDNN kernels (wasm+onednn) where the addon loads, plain wasm where it
// does not or where TFJS_BACKEND=wasm asks (CI runs the kernel and training tests both ways). Never tfjs-node, cpu.
import { loadNative } from '@quantlab/native';

const plain = process.env.TFJS_BACKEND === 'wasm' || loadNative().kernels === null;
/** TFJS_BACKEND for the processes and initBackend calls of the tests. */
export const TEST_BACKEND: 'native' | 'wasm' = plain ? 'wasm' : 'native';
/** The name metrics, provenance and the worker registry then give it. */
export const TEST_BACKEND_NAME = plain ? 'wasm' : 'wasm+onednn';
