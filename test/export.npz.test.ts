// The .npz export and the Python reader's fixtures: the committed fixtures are what the exporter writes today (so the
// pytest suite, which test/python.client.test.ts runs, checks the current format), and the reader decodes a fresh
// export's every layer to the project decoder's float32 bits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { FIXTURE_DIR, npzFixtures } from './helpers/npz-fixtures.ts';
import { npy } from '../services/ml/src/export/index.ts';

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

test('the committed fixtures of clients/python/tests are what the exporter writes now', () => {
  const fixtures = npzFixtures();
  assert.equal(Object.keys(fixtures).length, 10);
  for (const [file, bytes] of Object.entries(fixtures)) assert.deepEqual(readFileSync(join(FIXTURE_DIR, file)), Buffer.from(bytes), `${file} is stale: node --import tsx test/helpers/npz-fixtures.ts`);
});

test('a .npy file has the v1.0 header, padded to 64 bytes, then the little-endian data', () => {
  const file = npy(new Int16Array([1, -2, 300]), [3]);
  const header = new TextDecoder().decode(file.subarray(10, 10 + new DataView(file.buffer).getUint16(8, true)));
  assert.deepEqual([...file.subarray(0, 8)], [0x93, 78, 85, 77, 80, 89, 1, 0]);
  assert.match(header, /^\{'descr': '<i2', 'fortran_order': False, 'shape': \(3,\), \} *\n$/);
  assert.equal((10 + header.length) % 64, 0);
  assert.deepEqual(new Int16Array(file.slice(10 + header.length).buffer), new Int16Array([1, -2, 300]));
  assert.match(new TextDecoder().decode(npy(new Float32Array(6), [2, 3]).subarray(10, 80)), /'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\)/);
});

test('numpy reads every array of an export with the dtype and shape the metadata gives', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ql-npz-'));
  try {
    const file = join(dir, 'fixed12.npz');
    writeFileSync(file, npzFixtures()['fixed12-channel.npz']);
    const names = Object.keys(unzipSync(readFileSync(file))).sort();
    assert.deepEqual(names, ['conv1/bias/values.npy', 'conv1/kernel/codes.npy', 'conv1/kernel/steps.npy', 'fc/bias/values.npy', 'fc/kernel/codes.npy', 'fc/kernel/steps.npy', 'metadata.json']);
    const script = `import numpy as np, sys\nwith np.load(sys.argv[1]) as z:\n  print(';'.join(f"{k}:{z[k].dtype}:{z[k].shape}" for k in sorted(z.files) if k != 'metadata.json'))`;
    const r = spawnSync(python, ['-c', script, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'conv1/bias/values:float32:(4,);conv1/kernel/codes:int16:(3, 3, 2, 4);conv1/kernel/steps:float64:(4,);fc/bias/values:float32:(5,);fc/kernel/codes:int16:(12, 5);fc/kernel/steps:float64:(5,)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
