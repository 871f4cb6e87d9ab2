import { newId } from './ids.ts';
import { seriesOf } from './schemas/representation.ts';
import type { ExperimentConfig } from './schemas/experiment.ts';
import type { RunDocument, StoppingRule } from './schemas/run.ts';

/** A fresh queued run document (the only way one is made: API, sweeps, retries and the CLI's local train) for an effective config (defaults filled in). */
export function newRunDocument(
  config: ExperimentConfig,
  extra: { id?: string; sweepId?: string | null; baselineId?: string | null; retryOf?: string | null; createdAt?: string; stopping?: StoppingRule | null } = {},
): RunDocument {
  return {
    id: extra.id ?? newId('run'),
    name: config.name,
    status: 'queued',
    progress: { epoch: 0, epochs: config.training.epochs, fraction: 0 },
    config,
    metrics: { testAccuracy: null, trainLoss: null, durationMs: null, backend: null },
    epochs: [],
    workerId: null,
    error: null,
    createdAt: extra.createdAt ?? new Date().toISOString(),
    startedAt: null,
    finishedAt: null,
    sweepId: extra.sweepId ?? null,
    series: seriesOf(config.representation, config.phase, config.model, config.training.master),
    baselineId: extra.baselineId ?? null,
    retryOf: extra.retryOf ?? null,
    attempts: 0,
    dataset: null,
    provenance: null,
    artifact: null,
    imported: null,
    stopping: extra.stopping ?? null,
    stopped: null,
  };
}
