// The .npz fixtures of the Python reader's tests (clients/python/tests/fixtures): small artifacts of every encoding
// (fixed point int8 and int16 codes, per layer and per channel; dictionaries with uint8 and uint16 codes, global and
// per layer; float32 layers), each exported to .npz, beside `<name>.expected.npz` with the project's decoder's float32
// weights. test/export.npz.test.ts checks the committed files are what this writes; `node --import tsx
// test/helpers/npz-fixtures.ts` rewrites them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { Representation, type ExperimentConfigInput } from '@quantlab/shared';
import { Rng } from '../../services/ml/src/random.ts';
import { createQuantizer } from '../../services/ml/src/representations/index.ts';
import { decodeArtifact } from '../../services/ml/src/artifact/index.ts';
import { ZIP_MTIME } from '../../services/ml/src/export/model.ts';
import { npy, toNpz } from '../../services/ml/src/export/index.ts';

export const FIXTURE_DIR = 'clients/python/tests/fixtures';

const CASES: Record<string, ExperimentConfigInput['representation']> = {
  fixed8: { kind: 'fixed', bits: 8 },
  'fixed12-channel': { kind: 'fixed', bits: 12, range: 'maxabs', granularity: 'channel' },
  'dict3-per-layer-channel': { kind: 'dictionary', bits: 3, scope: 'per-layer', granularity: 'channel' },
  dict9: { kind: 'dictionary', bits: 9 },
  float32: { kind: 'float32' },
};

/** Each fixture's files by name: `<case>.npz` and `<case>.expected.npz`. */
export function npzFixtures(): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, representation] of Object.entries(CASES)) {
    const rng = new Rng(name.length * 7919);
    const layer = (n: string, shape: number[]) => ({ name: n, shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.3) });
    const kernels = [layer('conv1/kernel', [3, 3, 2, 4]), layer('fc/kernel', [12, 5])];
    const floats = [layer('conv1/bias', [4]), layer('fc/bias', [5])];
    const q = createQuantizer(Representation.parse(representation));
    q.fit(kernels);
    const bytes = q.pack(kernels, { float32: floats, meta: { model: 'fixture', fixture: name } });
    out[`${name}.npz`] = toNpz(decodeArtifact(bytes));
    const expected: Record<string, Uint8Array> = {};
    for (const l of decodeArtifact(bytes).layers) expected[`${l.name}.npy`] = npy(l.values, l.shape);
    expected['README.txt'] = strToU8('float32 weights as quantlab decodes them (services/ml/src/artifact/decode.ts)\n');
    out[`${name}.expected.npz`] = zipSync(expected, { level: 0, mtime: ZIP_MTIME });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [file, bytes] of Object.entries(npzFixtures())) writeFileSync(join(FIXTURE_DIR, file), bytes);
}
