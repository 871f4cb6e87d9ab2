import { PROBLEM_BASE, type Problem } from '@quantlab/shared';

/** The problem types the API answers with; each `type` URI is stable and documented in docs/API.md. */
export const PROBLEMS = {
  validation: { status: 400, title: 'The request is invalid' },
  'bad-request': { status: 400, title: 'The request could not be read' },
  'sweep-too-large': { status: 400, title: 'The sweep has too many runs' },
  unauthorized: { status: 401, title: 'A valid bearer token is required' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'request-timeout': { status: 408, title: 'The request was not received in time' },
  conflict: { status: 409, title: 'The resource is not in a state that allows this' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'uri-too-long': { status: 414, title: 'The URL is too long' },
  'unsupported-media-type': { status: 415, title: 'Send application/json' },
  'idempotency-key-reused': { status: 422, title: 'The Idempotency-Key was used with a different request' },
  'dataset-unavailable': { status: 422, title: 'No registered worker serves the dataset' },
  'model-invalid': { status: 422, title: 'The model cannot be used' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'A backing service is unavailable' },
  'insufficient-storage': { status: 507, title: 'The store is full' },
} as const;
export type ProblemType = keyof typeof PROBLEMS;

export const problemUri = (type: ProblemType): string => `${PROBLEM_BASE}${type}`;

/** Thrown by handlers; the error handler turns it into application/problem+json. */
export class HttpProblem extends Error {
  constructor(
    readonly type: ProblemType,
    readonly detail: string,
    readonly issues?: Problem['issues'],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }

  get status(): number {
    return PROBLEMS[this.type].status;
  }

  toJSON(instance?: string): Problem {
    return {
      type: problemUri(this.type),
      title: PROBLEMS[this.type].title,
      status: this.status,
      detail: this.detail,
      ...(instance ? { instance } : {}),
      ...(this.issues ? { issues: this.issues } : {}),
    };
  }
}

export const notFound = (what: string, id: string) => new HttpProblem('not-found', `no ${what} with id ${id}`);
