/**
 * `quantlab train` and `quantlab eval` run here, so they also take a user dataset by path: `idx:PATH` (a folder of
 * IDX files), `npz:PATH` (a .npz file), `folder:PATH` (an image folder). The path becomes a name under its parent
 * folder, which stands in for DATA_DIR; the API and the workers take names only.
 */
import { basename, dirname, resolve } from 'node:path';
import { DATASET_KINDS, DATASET_NAME, type DatasetKind } from '@quantlab/shared';
import { CliError } from './cli-error.ts';

export function localDataset(spec: string | undefined, dataDir: string): { dataset: string | undefined; dataDir: string } {
  const m = spec === undefined ? null : /^([a-z]+):(.+)$/.exec(spec);
  if (!m || !DATASET_KINDS.includes(m[1] as DatasetKind) || DATASET_NAME.test(m[2])) return { dataset: spec, dataDir };
  const kind = m[1] as DatasetKind;
  const path = resolve(m[2]);
  const name = kind === 'npz' ? basename(path).replace(/\.npz$/, '') : basename(path);
  if (kind === 'npz' && !path.endsWith('.npz')) throw new CliError(`--dataset ${spec}: an npz dataset is a file named NAME.npz`, 2);
  if (!DATASET_NAME.test(name)) throw new CliError(`--dataset ${spec}: the last part of the path ("${name}") must be letters, digits, _ or - (rename it)`, 2);
  return { dataset: `${kind}:${name}`, dataDir: dirname(path) };
}
