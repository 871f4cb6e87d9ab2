import { z } from 'zod';

/** RFC 9457 problem details; `type` values are stable and documented in docs/API.md. */
export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().optional(),
  issues: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string(), code: z.string().optional() })).optional(),
});
export type Problem = z.infer<typeof Problem>;

export const PROBLEM_BASE = 'https://quantlab.dev/problems/';
