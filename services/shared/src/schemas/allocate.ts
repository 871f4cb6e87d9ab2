import { z } from 'zod';

/** POST /sweeps/:id/allocate: the relative accuracy the allocation must keep, on the lower end of its 95% interval. */
export const AllocateRequest = z.strictObject({
  target: z
    .number()
    .gt(0, 'target is a relative accuracy (a fraction of the float32 baseline\'s accuracy): it must be above 0')
    .max(1.05, 'target is a relative accuracy: at most 1.05 (above 1 only within the noise of the baseline)'),
});
export type AllocateRequest = z.infer<typeof AllocateRequest>;

export const AllocationResult = z.object({
  /** Width by layer (32: float32). */
  widths: z.record(z.string(), z.number().int()),
  /** Weight bytes of the allocation (codes, scales and per-layer dictionaries; float32 layers 4 bytes a weight). */
  bytes: z.number().int(),
  predicted: z.object({ mean: z.number(), low: z.number() }),
  bestUniform: z.object({ width: z.number().int(), bytes: z.number().int(), judged: z.enum(['measured', 'predicted']) }).nullable(),
  /** The greedy allocation was not smaller than the best uniform width, which is the answer. */
  uniform: z.boolean(),
});

export const AllocateAccepted = z.object({
  sweepId: z.string(),
  target: z.number(),
  /** The sensitivity series' representation family (series without phase and layer). */
  family: z.string(),
  allocation: AllocationResult,
  /** The representation the allocated runs train with. */
  representation: z.record(z.string(), z.unknown()),
  /** One allocated run per seed of the sensitivity series, added to the sweep (or the sweep's run of that config). */
  runs: z.array(z.string()),
  /** Those of `runs` this call queued; the others are runs the sweep already had with that exact config. */
  queued: z.array(z.string()),
  links: z.object({ sweep: z.string(), runs: z.array(z.string()) }),
});
export type AllocateAccepted = z.infer<typeof AllocateAccepted>;
