import type { components } from './openapi.gen.ts';

type Problem = components['schemas']['Problem'];

/** A non-2xx answer: its status and, when the API sent one, its problem+json body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The body of a 2xx answer, or an ApiError built from the problem document. Callers write
 * `ok(await api.GET('/experiments/{id}', { params: { path: { id } } }))`.
 */
export function ok<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.ok) return r.data as T;
  const e = r.error as Partial<Problem> | string | undefined;
  const problem = e && typeof e === 'object' && typeof e.status === 'number' ? (e as Problem) : null;
  const detail = problem ? (problem.detail ?? problem.title) : `${r.response.status} ${r.response.statusText}`;
  throw new ApiError(r.response.status, problem, problem ? `${problem.title}: ${problem.detail}` : detail);
}
