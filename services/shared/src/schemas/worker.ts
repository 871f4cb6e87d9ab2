import { z } from 'zod';
import { Dataset } from './experiment.ts';

/** A live worker process as it registers itself in Redis (GET /workers lists these). */
export const WorkerInfo = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  /** The TF.js backend its training threads use; null until the first thread has loaded one. */
  backend: z.string().nullable(),
  /** Datasets this worker can serve: the built-ins (cifar10 only where its files are) and those under its DATA_DIR. */
  datasets: z.array(Dataset),
  concurrency: z.number().int(),
  /** Run ids it is training now. */
  currentRuns: z.array(z.string()),
  startedAt: z.string(),
  /** Last heartbeat; the key expires a few heartbeats after this. */
  lastSeen: z.string(),
});
export type WorkerInfo = z.infer<typeof WorkerInfo>;

export const WorkerList = z.object({ items: z.array(WorkerInfo) });
export type WorkerList = z.infer<typeof WorkerList>;
