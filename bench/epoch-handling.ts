/**
 * What a training thread waits for at each epoch's end (StopFlag.epochHandled): the main thread's epoch write and a
 * checkpoint of cnn5's size, to a local Redis.
 *   node --import tsx bench/epoch-handling.ts
 */
import { Redis } from 'ioredis';
import { ExperimentConfig, newRunDocument, RunStore } from '@quantlab/shared';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const store = new RunStore(redis, 'qlbench:epoch-handling');
const doc = newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'cnn5' }));
await store.create(doc);
const ck = new Uint8Array(1_200_000);
const times: number[] = [];
for (let e = 1; e <= 30; e++) {
  const t = performance.now();
  await store.addEpoch(doc.id, { epoch: e, trainLoss: 0.1, trainAccuracy: 0.9, testAccuracy: 0.9, durationMs: 1, imagesPerSec: 1 }, 30);
  await store.saveCheckpoint(doc.id, ck);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`epoch write + 1.2 MB checkpoint: median ${times[15].toFixed(2)} ms, max ${times[29].toFixed(2)} ms (30 epochs)`);
await store.delete(doc.id);
redis.disconnect();
