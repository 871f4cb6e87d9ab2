import { z } from 'zod';
import { LIMITS } from './experiment.ts';
import { RunDocument, RunId, RunStatus } from './run.ts';
import { SweepRecord } from './sweep.ts';

// The lifecycle endpoints' shapes (retry, export, import): the API's contract, shared with the CLI.

/** Only a run that ended without a result is run again; a completed run is final. */
export const RETRYABLE_STATUSES: readonly RunStatus[] = ['failed', 'cancelled'];
export const isRetryable = (doc: Pick<RunDocument, 'status'>) => RETRYABLE_STATUSES.includes(doc.status);

export const RetryAccepted = z.object({
  id: z.string(),
  status: RunStatus,
  retryOf: z.string(),
  links: z.object({ self: z.string(), events: z.string().optional(), retryOf: z.string() }),
});
export type RetryAccepted = z.infer<typeof RetryAccepted>;

export const SweepRetryResult = z.object({
  id: z.string(),
  /** The new runs, each linked to the run it retries. */
  runs: z.array(z.object({ id: z.string(), retryOf: z.string() })),
});
export type SweepRetryResult = z.infer<typeof SweepRetryResult>;

export const SWEEP_EXPORT_FORMAT = 'quantlab-sweep-export';

/**
 * A sweep moved between clusters (`quantlab export` / `quantlab import`): its record, every run document as stored
 * (epochs included; relativeAccuracy is derived when read, so it is not in them) and each run's artifact in base64.
 */
export const SweepExport = z.object({
  format: z.literal(SWEEP_EXPORT_FORMAT),
  version: z.literal(1),
  exportedAt: z.iso.datetime(),
  sweep: SweepRecord.extend({ id: RunId, createdAt: z.iso.datetime(), runIds: z.array(RunId).max(LIMITS.maxSweepRuns * 4) }),
  // The same document schema the store serves and workers write, with real timestamps: a createdAt that is not a date
  // would give the run an index score of NaN (stored but never listed).
  runs: z.array(RunDocument.extend({ id: RunId, createdAt: z.iso.datetime(), startedAt: z.iso.datetime().nullable(), finishedAt: z.iso.datetime().nullable() })).max(LIMITS.maxSweepRuns * 4),
  /** runId -> the packed artifact, base64. */
  artifacts: z.record(RunId, z.base64()),
});
export type SweepExport = z.infer<typeof SweepExport>;

export const ImportQuery = z.strictObject({
  /** new (default): fresh ids, so a sweep can be imported next to its original; same: keep them (409 if taken). */
  ids: z.enum(['new', 'same']).default('new'),
});

export const ImportResult = z.object({
  id: z.string(),
  runs: z.array(z.string()),
  /** Original id -> id on this cluster. */
  ids: z.record(z.string(), z.string()),
  links: z.object({ self: z.string(), runs: z.string() }),
});
export type ImportResult = z.infer<typeof ImportResult>;

