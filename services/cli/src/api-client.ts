/**
 * The CLI's API client: the typed client generated from the OpenAPI document (@quantlab/client), pointed at
 * QUANTLAB_URL (default http://127.0.0.1:3000) with QUANTLAB_TOKEN. A non-2xx answer or an unreachable API becomes a
 * CliError with one line: the request, the status and the problem's detail.
 */
import { createApi, type Api } from '@quantlab/client';
import { CliError } from './cli-error.ts';
import { httpFetch } from './http-fetch.ts';
import { printable } from './printable.ts';

export function apiBase(): string {
  return (process.env.QUANTLAB_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
}

export function api(): Api {
  const base = apiBase();
  const token = process.env.QUANTLAB_TOKEN ?? '';
  // Requests time out after 30 s; event streams (which stay open for a run's lifetime) do not.
  const timed = (req: Request) => httpFetch(req, req.headers.get('accept') === 'text/event-stream' ? undefined : { signal: AbortSignal.any([req.signal, AbortSignal.timeout(30_000)]) });
  const client = createApi({ baseUrl: base, token: () => token, fetch: timed as typeof fetch });
  client.use({
    async onResponse({ request, response }) {
      if (response.ok) return undefined;
      let p: { title?: string; detail?: string } | null;
      try {
        p = (await response.clone().json()) as { title?: string; detail?: string } | null;
      } catch {
        p = null;
      }
      const url = new URL(request.url);
      const hint = response.status === 401 ? (token ? ' (check QUANTLAB_TOKEN)' : ' (set QUANTLAB_TOKEN)') : '';
      const message = `${request.method} ${url.pathname}${url.search}: ${response.status} ${printable(String(p?.detail ?? p?.title ?? response.statusText))}${hint}`;
      // The status goes along: a follower (followRun) retries a 5xx, not a 4xx.
      throw Object.assign(new CliError(message), { status: response.status });
    },
    onError({ error }) {
      if (error instanceof CliError || (error as Error).name === 'AbortError') return undefined;
      const e = error as { code?: string; message: string; cause?: { code?: string; message?: string } };
      const cause = e.code ?? e.cause?.code ?? e.cause?.message ?? e.message;
      return new CliError(`cannot reach the API at ${base} (${cause}); start it with npm start or set QUANTLAB_URL`);
    },
  });
  return client;
}

/** The body of an answer the middleware let through (a 2xx one). */
export function body<T>(r: { data?: T }): T {
  return r.data as T;
}

/** --json output: the API's response body as one compact line. */
export function printJson(body: unknown): void {
  process.stdout.write(JSON.stringify(body) + '\n');
}

/** A plain-text table: columns padded to their widest cell; numbers right-aligned. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : printable(String(c)))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const numeric = headers.map((_h, i) => cells.length > 0 && cells.every((r) => /^-?[\d.,%]+x?$|^-$/.test(r[i] ?? '')));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export const pct = (x: number | null | undefined) => (typeof x === 'number' ? `${(x * 100).toFixed(2)}%` : null);
