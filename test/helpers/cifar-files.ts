// Writes small files in the CIFAR-10 binary format (1 label byte + 1024 R + 1024 G + 1024 B per record), with
// class-dependent images so a network can learn them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '@quantlab/ml/random';

export function cifarRecords(count: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(count * 3073);
  for (let i = 0; i < count; i++) {
    const label = i % 10;
    const r = i * 3073;
    out[r] = label;
    for (let ch = 0; ch < 3; ch++) {
      for (let p = 0; p < 1024; p++) {
        const y = p >> 5;
        const x = p & 31;
        // A class-specific colour and stripe pattern plus noise.
        const level = 50 + 16 * ((label * (ch + 3)) % 10);
        const signal = level + (((x + y * (label % 3)) >> (label % 4)) % 2 === ch % 2 ? 40 : -40);
        out[r + 1 + ch * 1024 + p] = Math.max(0, Math.min(255, signal + Math.round((rng.next() - 0.5) * 120)));
      }
    }
  }
  return out;
}

/** DATA_DIR/cifar-10-batches-bin/ with five training batches of `perBatch` records and a test batch of `test`. */
export function writeCifarFolder(dataDir: string, perBatch: number, test: number): string {
  const dir = join(dataDir, 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), cifarRecords(perBatch, b));
  writeFileSync(join(dir, 'test_batch.bin'), cifarRecords(test, 99));
  writeFileSync(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  return dir;
}
