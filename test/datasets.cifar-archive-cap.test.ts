// Issue 14, finding 10: the CIFAR tar reader buffered entries of any size. An archive whose batch entry claims more
// than a CIFAR-10 batch holds is refused from its header, before anything is buffered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CIFAR_MAX_ENTRY_BYTES, loadCifar10 } from '@quantlab/ml/datasets/cifar10';

/** One ustar header for a regular file of `size` bytes (the content need not follow: the reader must stop first). */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  const field = (off: number, len: number, value: string) => h.write(value, off, len, 'ascii');
  field(0, 100, name);
  field(100, 8, '0000644\0');
  field(108, 8, '0000000\0');
  field(116, 8, '0000000\0');
  field(124, 12, size.toString(8).padStart(11, '0') + '\0');
  field(136, 12, '00000000000\0');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

test('a CIFAR archive entry claiming more than a batch is refused from its header, without buffering it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ql-cifar-cap-'));
  try {
    // 4 GiB claimed, 64 KiB present: reading it through would buffer until the stream ends.
    const claimed = 4 * 1024 ** 3;
    writeFileSync(join(dir, 'cifar-10-binary.tar.gz'), gzipSync(Buffer.concat([tarHeader('cifar-10-batches-bin/data_batch_1.bin', claimed), Buffer.alloc(64 * 1024, 1)])));
    const heap = process.memoryUsage().arrayBuffers;
    await assert.rejects(loadCifar10(dir), (e: Error) => e.message.includes(`claims ${claimed} bytes`) && e.message.includes(String(CIFAR_MAX_ENTRY_BYTES)));
    assert.ok(process.memoryUsage().arrayBuffers - heap < 16 * 1024 * 1024, 'nothing large was buffered');
    assert.equal(CIFAR_MAX_ENTRY_BYTES, 10_000 * 3073, 'a real batch (10,000 records) still fits');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
