import type { Problem } from '@quantlab/shared/schemas/problem';
import type { RunDocument, RunList } from '@quantlab/shared/schemas/run';
import type { ExperimentAccepted, CancelResult } from '@quantlab/shared/schemas/api';
import type { PresetInfo, SweepAccepted, SweepDocument, SweepList } from '@quantlab/shared/schemas/sweep';
import { authHeaders } from './token.ts';

/** A failed API call: the HTTP status and, when the API sent one, its problem+json body (zod issues included). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    message: string,
  ) {
    super(message);
  }
}

/** Fetch with the token header; non-2xx responses become ApiError. A 401 is announced so the token field lights up. */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = { Accept: 'application/json', ...authHeaders(), ...(init.headers as Record<string, string> | undefined) };
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, null, `cannot reach the API (${(e as Error).message})`);
  }
  if (res.ok) return res;
  let problem: Problem | null = null;
  try {
    const body = await res.json();
    if (body && typeof body === 'object' && 'status' in body) problem = body as Problem;
  } catch {
    /* not JSON: keep the status line */
  }
  if (res.status === 401) window.dispatchEvent(new CustomEvent('quantlab:unauthorized'));
  const message = problem ? `${problem.title}: ${problem.detail}` : `${res.status} ${res.statusText}`;
  throw new ApiError(res.status, problem, message);
}

async function json<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await apiFetch(path, init);
  return (await res.json()) as T;
}

function post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return json<T>(path, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body), headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, signal });
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export interface RunFilters {
  status?: string;
  dataset?: string;
  kind?: string;
  sweep?: string;
  cursor?: string;
  limit?: number;
}

export const api = {
  listRuns: (f: RunFilters, signal?: AbortSignal) => json<RunList>(`/experiments${query({ ...f })}`, { signal }),
  getRun: (id: string, signal?: AbortSignal) => json<RunDocument>(`/experiments/${encodeURIComponent(id)}`, { signal }),
  createRun: (body: unknown) => post<ExperimentAccepted>('/experiments', body),
  cancelRun: (id: string) => post<CancelResult>(`/experiments/${encodeURIComponent(id)}/cancel`, undefined),
  listSweeps: (f: { cursor?: string; limit?: number }, signal?: AbortSignal) => json<SweepList>(`/sweeps${query({ ...f })}`, { signal }),
  getSweep: (id: string, signal?: AbortSignal) => json<SweepDocument>(`/sweeps/${encodeURIComponent(id)}`, { signal }),
  createSweep: (body: unknown) => post<SweepAccepted>('/sweeps', body),
  cancelSweep: (id: string) => post<unknown>(`/sweeps/${encodeURIComponent(id)}/cancel`, undefined),
  presets: (signal?: AbortSignal) => json<{ items: PresetInfo[] }>('/presets', { signal }),
  workers: (signal?: AbortSignal) => json<{ items: { datasets: string[] }[] }>('/workers', { signal }),
  /** The packed compact model as a Blob (fetched with the token, so it works with API_TOKEN set). */
  async artifact(id: string): Promise<{ blob: Blob; filename: string }> {
    const res = await apiFetch(`/experiments/${encodeURIComponent(id)}/artifact`, { headers: { Accept: '*/*' } });
    const cd = res.headers.get('content-disposition') ?? '';
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
    return { blob: await res.blob(), filename: m ? decodeURIComponent(m[1]) : `${id}.qlm` };
  },
};

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
