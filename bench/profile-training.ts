/**
 * One representation's cnn5 training epochs under the profiler, to see where a step's time goes:
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-training.ts --repr fixed:8 [--backend native] [--images 1000] [--epochs 3]
 * Prints images/s per epoch; open the .cpuprofile in Chrome's DevTools or summarize it by function.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ExperimentConfig } from '@quantlab/shared';
import { initBackend, trainExperiment, type BackendChoice } from '@quantlab/ml';
import { writeCifarFolder } from '../test/helpers/cifar-files.ts';

const { values } = parseArgs({ options: { repr: { type: 'string', default: 'float32' }, backend: { type: 'string', default: 'native' }, threads: { type: 'string', default: '1' }, images: { type: 'string', default: '1000' }, epochs: { type: 'string', default: '3' } } });
const images = Number(values.images);
const repr = values.repr!;
const representation = repr === 'float32' ? { kind: 'float32' } : { kind: repr.split(':')[0], bits: Number(repr.split(':')[1]) };
const dataDir = mkdtempSync(join(tmpdir(), 'quantlab-prof-'));
writeCifarFolder(dataDir, Math.ceil(images / 5), 100);
const backend = await initBackend(values.backend as BackendChoice, { threads: Number(values.threads) });
const config = ExperimentConfig.parse({ dataset: 'cifar10', model: 'cnn5', representation, training: { epochs: Number(values.epochs), batchSize: 100, trainLimit: images, testLimit: 100 } });
const r = await trainExperiment({ config, dataDir });
console.log(`${repr} on ${backend}: images/s per epoch ${r.epochs.map((e) => e.imagesPerSec.toFixed(0)).join(', ')}`);
rmSync(dataDir, { recursive: true, force: true });
