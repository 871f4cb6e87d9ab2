import { z } from 'zod';
import { Dataset } from './experiment.ts';
import { REPRESENTATION_KINDS } from './choices.ts';
import { RunId, RunStatus } from './run.ts';

/** Request and response shapes of the HTTP API that are not documents of their own (see docs/API.md). */

export const IdParams = z.strictObject({ id: RunId });

export const Links = z.object({ self: z.string(), events: z.string().optional(), artifact: z.string().optional(), cancel: z.string().optional() });

export const ExperimentAccepted = z.object({ id: z.string(), status: RunStatus, links: Links });
export type ExperimentAccepted = z.infer<typeof ExperimentAccepted>;

export const RunListQuery = z.strictObject({
  status: RunStatus.optional(),
  sweep: RunId.optional(),
  dataset: Dataset.optional(),
  /** Representation kind. */
  kind: z.enum(REPRESENTATION_KINDS).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});
export type RunListQuery = z.infer<typeof RunListQuery>;

/** The model formats GET /experiments/:id/export writes from a run's artifact (docs/EXPORT.md). */
export const ExportFormat = z.enum(['onnx', 'tfjs', 'npz']);
export type ExportFormat = z.infer<typeof ExportFormat>;
export const ExportQuery = z.strictObject({ format: ExportFormat });

export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

export const CancelResult = z.object({
  id: z.string(),
  /** The run's status after the call: cancelled when it was queued, still running while the worker stops it. */
  status: RunStatus,
  cancelRequested: z.boolean(),
});
export type CancelResult = z.infer<typeof CancelResult>;

export const SweepCancelResult = z.object({
  id: z.string(),
  /** Queued runs cancelled at once. */
  cancelled: z.number().int(),
  /** Running runs asked to stop at their next batch. */
  cancelRequested: z.number().int(),
});

export const EventToken = z.object({ token: z.string(), expiresAt: z.string(), url: z.string() });

export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  redis: z.object({ ok: z.boolean(), latencyMs: z.number().nullable() }),
  queue: z
    .object({
      waiting: z.number().int(),
      active: z.number().int(),
      delayed: z.number().int(),
      prioritized: z.number().int(),
      /** waiting + prioritized + active: the worker slots the queue can use now (the autoscaler's metric). */
      slotsWanted: z.number().int(),
    })
    .nullable(),
  uptimeSec: z.number(),
});
export type Health = z.infer<typeof Health>;
