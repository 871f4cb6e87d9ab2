/**
 * The dashboard's API calls: the typed client generated from the OpenAPI document (@quantlab/client), on this
 * page's origin, with the token from the browser's storage. A 401 is announced so the token field lights up.
 */
import { ApiError, createApi, ok, readEvents, type JsonBody, type paths, type ServerEvent } from '@quantlab/client';
import { getToken } from './token.ts';

export { ApiError };

const client = createApi({ baseUrl: '', token: () => getToken() || undefined });
client.use({
  onResponse({ response }) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent('quantlab:unauthorized'));
    return undefined;
  },
  onError({ error }) {
    if ((error as Error).name === 'AbortError') return undefined;
    return new ApiError(0, null, `cannot reach the API (${(error as Error).message})`);
  },
});

export interface RunFilters {
  status?: string;
  dataset?: string;
  kind?: string;
  sweep?: string;
  cursor?: string;
  limit?: number;
}

type RunQuery = paths['/experiments']['get']['parameters']['query'];

const path = (id: string) => ({ path: { id } });

export const api = {
  listRuns: async (f: RunFilters, signal?: AbortSignal) => ok(await client.GET('/experiments', { params: { query: f as RunQuery }, signal })),
  getRun: async (id: string, signal?: AbortSignal) => ok(await client.GET('/experiments/{id}', { params: path(id), signal })),
  createRun: async (body: unknown) => ok(await client.POST('/experiments', { body: body as JsonBody<'/experiments', 'post'> })),
  cancelRun: async (id: string) => ok(await client.POST('/experiments/{id}/cancel', { params: path(id) })),
  listSweeps: async (f: { cursor?: string; limit?: number }, signal?: AbortSignal) => ok(await client.GET('/sweeps', { params: { query: f }, signal })),
  getSweep: async (id: string, signal?: AbortSignal) => ok(await client.GET('/sweeps/{id}', { params: path(id), signal })),
  createSweep: async (body: unknown) => ok(await client.POST('/sweeps', { body: body as JsonBody<'/sweeps', 'post'> })),
  cancelSweep: async (id: string) => ok(await client.POST('/sweeps/{id}/cancel', { params: path(id) })),
  presets: async (signal?: AbortSignal) => ok(await client.GET('/presets', { signal })),
  workers: async (signal?: AbortSignal) => ok(await client.GET('/workers', { signal })),
  /** Every uploaded model, newest first (all pages of GET /models). */
  async models(signal?: AbortSignal) {
    const page = (cursor?: string) => client.GET('/models', { params: { query: { limit: 200, cursor } }, signal });
    const first = ok(await page());
    const items = [...first.items];
    for (let cursor = first.nextCursor; cursor; ) {
      const next = ok(await page(cursor));
      items.push(...next.items);
      cursor = next.nextCursor;
    }
    return items;
  },
  /** The packed compact model as a Blob (fetched with the token, so it works with API_TOKEN set). */
  async artifact(id: string): Promise<{ blob: Blob; filename: string }> {
    const r = await client.GET('/experiments/{id}/artifact', { params: path(id), parseAs: 'blob', headers: { Accept: '*/*' } });
    const blob = ok(r) as unknown as Blob;
    const cd = r.response.headers.get('content-disposition') ?? '';
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
    return { blob, filename: m ? decodeURIComponent(m[1]) : `${id}.qlm` };
  },
  /** A run's Server-Sent Events until the server ends the stream; stops quietly when `signal` aborts. */
  async events(id: string, onEvent: (e: ServerEvent) => void, signal: AbortSignal): Promise<void> {
    const r = await client.GET('/experiments/{id}/events', { params: path(id), parseAs: 'stream', headers: { Accept: 'text/event-stream' }, signal });
    const body = ok(r) as ReadableStream<Uint8Array> | null;
    if (!body) return;
    try {
      await readEvents(body, onEvent);
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  },
};

export type ModelSummary = Awaited<ReturnType<typeof api.models>>[number];

/** Saves a Blob through a temporary object URL. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
