/**
 * The typed client of the quantlab API, shared by the CLI and the dashboard: openapi-fetch over the paths that
 * openapi-typescript generates (build.ts) from the OpenAPI document, which the API builds from the shared zod
 * schemas. Nothing here restates a request or response shape.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './openapi.gen.ts';

export type { components, paths } from './openapi.gen.ts';
export { followRun, readEvents, type FollowOptions, type ServerEvent } from './sse.ts';
export { ApiError, ok } from './errors.ts';

type Schemas = components['schemas'];
export type RunDocument = Schemas['RunDocument'];
export type RunList = Schemas['RunList'];
export type SweepDocument = Schemas['SweepDocument'];
export type SweepList = Schemas['SweepList'];
export type Problem = Schemas['Problem'];
export type PresetInfo = Schemas['PresetInfo'];
export type ExperimentAccepted = Schemas['ExperimentAccepted'];
export type SweepAccepted = Schemas['SweepAccepted'];
export type Api = Client<paths>;
/** The JSON body an operation takes, e.g. `JsonBody<'/sweeps', 'post'>`. */
export type JsonBody<P extends keyof paths, M extends 'post'> = paths[P][M] extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

export interface ApiOptions {
  /** The API's origin, e.g. http://127.0.0.1:3000; '' in the browser (same origin). */
  baseUrl: string;
  /** The bearer token, read at each request (the dashboard's can change while it runs). */
  token?: () => string | undefined;
  fetch?: typeof fetch;
}

export function createApi(opts: ApiOptions): Api {
  const api = createClient<paths>({ baseUrl: opts.baseUrl.replace(/\/+$/, ''), fetch: opts.fetch, headers: { accept: 'application/json' } });
  api.use({
    onRequest({ request }) {
      const token = opts.token?.();
      if (token) request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
  });
  return api;
}
