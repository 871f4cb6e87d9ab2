/** A small client of the quantlab API for the CLI: QUANTLAB_URL (default http://127.0.0.1:3000), QUANTLAB_TOKEN. */
import { CliError } from './cli-error.ts';
import { printable } from './printable.ts';

export interface ApiResponse<T> {
  status: number;
  body: T;
  /** The body as received, for --json (printed compact, as the API sent it). */
  text: string;
}

export class ApiClient {
  readonly base: string;

  constructor(
    base = process.env.QUANTLAB_URL ?? 'http://127.0.0.1:3000',
    private readonly token = process.env.QUANTLAB_TOKEN ?? '',
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  /** Sends a request; a non-2xx answer becomes a CliError with the problem's one-line detail. */
  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      const c = (err as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (err as Error).message;
      throw new CliError(`cannot reach the API at ${this.base} (${cause}); start it with npm start or set QUANTLAB_URL`);
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!res.ok) {
      const p = parsed as { title?: string; detail?: string } | null;
      const hint = res.status === 401 ? (this.token ? ' (check QUANTLAB_TOKEN)' : ' (set QUANTLAB_TOKEN)') : '';
      throw new CliError(`${method} ${path}: ${res.status} ${printable(String(p?.detail ?? p?.title ?? res.statusText))}${hint}`);
    }
    return { status: res.status, body: parsed as T, text };
  }
}

/** --json output: the API's response body as one compact line. */
export function printJson(text: string): void {
  process.stdout.write(JSON.stringify(JSON.parse(text)) + '\n');
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
