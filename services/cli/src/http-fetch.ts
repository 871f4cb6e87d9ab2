/**
 * `fetch` for the typed client over node:http. Node's built-in fetch spends more on its first request in a process
 * (loading and compiling undici's fetch path) than `quantlab ls` spends on everything else, and a CLI process makes
 * one or two requests: this keeps the command fast. Bodies stream both ways (event streams included).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

export async function httpFetch(req: Request, init?: { signal?: AbortSignal }): Promise<Response> {
  const url = new URL(req.url);
  const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
  const headers: Record<string, string> = {};
  req.headers.forEach((v, k) => (headers[k] = v));
  if (body) headers['content-length'] = String(body.length);
  const signal = init?.signal ?? req.signal;
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const r = send(url, { method: req.method, headers, signal }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) for (const x of [v ?? []].flat()) h.append(k, x);
      const empty = req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304;
      if (empty) res.resume();
      resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status: res.statusCode, statusText: res.statusMessage, headers: h }));
    });
    r.on('error', reject);
    r.end(body);
  });
}
