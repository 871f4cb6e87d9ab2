/**
 * The wasm backend's input gradient of a convolution: quantlab's composed kernel against the backend's built-in one,
 * at stride 1 and 2, on one core. Prints a Markdown table of ms per call and the speed-up, measured in this run.
 *   node --import tsx bench/conv-grads.ts [--rounds 5]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '@quantlab/ml';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 5;
// The backend's own kernel, taken before initBackend replaces it with the composed one.
const builtin = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
await initBackend('wasm');
const composed = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
const use = (k: tf.KernelConfig) => {
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel(k);
};

/** cnn5's second layer (32 -> 32 channels, 5x5) on a batch of 50 at 32x32, and the same with a stride of 2. */
const cases = [1, 2].map((stride) => ({ stride, x: [50, 32, 32, 32] as [number, number, number, number], w: tf.randomNormal([5, 5, 32, 32]) as tf.Tensor4D }));

function msPerCall(c: (typeof cases)[number]): number {
  const dy = tf.randomNormal([50, 32 / c.stride, 32 / c.stride, 32]) as tf.Tensor4D;
  // tidy returns nothing: a typed array returned from tidy would be walked element by element.
  const call = () => tf.tidy(() => void tf.conv2dTranspose(dy, c.w, c.x, c.stride, 'same').dataSync());
  call();
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) call();
  dy.dispose();
  return (performance.now() - t0) / rounds;
}

console.log('| stride | built-in ms | composed ms | speed-up |\n|---:|---:|---:|---:|');
for (const c of cases) {
  use(builtin);
  const a = msPerCall(c);
  use(composed);
  const b = msPerCall(c);
  console.log(`| ${c.stride} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(2)}× |`);
}
