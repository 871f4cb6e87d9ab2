/**
 * Server-Sent Events over fetch (the Authorization header goes along, which EventSource cannot send), and a run's
 * event stream followed to its end across lost connections: each reconnect sends Last-Event-ID, and the stream's
 * opening snapshot (the whole run document) tells the caller what it missed.
 */
import type { Client } from 'openapi-fetch';
import type { components, paths } from './openapi.gen.ts';
import { ok } from './errors.ts';

type RunDocument = components['schemas']['RunDocument'];

export interface ServerEvent {
  event: string;
  data: string;
  /** The stream's last event id so far (SSE keeps it across events that carry none). */
  id: string;
}

/** Calls onEvent for each event of a text/event-stream body; resolves when the body ends. */
export async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (e: ServerEvent) => void, lastId = ''): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let id = lastId;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return id;
      buf += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
        const ev = parseBlock(block, id);
        if (!ev) continue;
        id = ev.id;
        if (ev.event !== '') onEvent(ev);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function parseBlock(block: string, lastId: string): ServerEvent | null {
  let event = 'message';
  let id = lastId;
  let fields = 0;
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':') || line === '') continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
    else continue;
    fields += 1;
  }
  if (fields === 0) return null;
  // A block with only an id (or a retry) moves the id on without being an event.
  if (data.length === 0 && event === 'message') return { event: '', data: '', id };
  return { event, data: data.join('\n'), id };
}

export interface FollowOptions {
  /** Called with the document at each (re)connection, then with every event. */
  onSnapshot?: (doc: RunDocument) => void;
  /** Every event, with the document it has been folded into. */
  onEvent?: (e: ServerEvent, doc: RunDocument | null) => void;
  /** Called before each reconnection (attempt counts from 1). */
  onReconnect?: (attempt: number, err: unknown) => void;
  /** Consecutive failed connections before giving up (default 10). */
  maxRetries?: number;
  /** Wait before reconnecting (default 1 s, doubling up to 15 s). */
  retryMs?: number;
  signal?: AbortSignal;
}

const FINAL = new Set(['completed', 'failed', 'cancelled', 'stopped']);

/** Follows GET /experiments/{id}/events until the run ends; resolves with its final document (read again once ended). */
export async function followRun(api: Client<paths>, id: string, opts: FollowOptions = {}): Promise<RunDocument> {
  const maxRetries = opts.maxRetries ?? 10;
  let lastId = '';
  let failures = 0;
  let doc: RunDocument | null = null;
  for (;;) {
    try {
      const r = await api.GET('/experiments/{id}/events', {
        params: { path: { id } },
        parseAs: 'stream',
        headers: { accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) },
        signal: opts.signal,
      });
      if (!r.response.ok || !r.response.body) ok({ ...r, error: await r.response.json().catch(() => undefined) });
      // lastId is kept per event: a connection that breaks mid-stream never returns from readEvents.
      await readEvents(
        r.response.body!,
        (e) => {
          lastId = e.id;
          failures = 0;
          if (e.event === 'snapshot') {
            doc = JSON.parse(e.data) as RunDocument;
            opts.onSnapshot?.(doc);
          } else if (doc) {
            apply(doc, e);
          }
          opts.onEvent?.(e, doc);
        },
        lastId,
      );
      // The final document as stored (the events carry no metrics): what a caller reports on.
      if (doc && FINAL.has((doc as RunDocument).status)) return ok(await api.GET('/experiments/{id}', { params: { path: { id } }, signal: opts.signal }));
      throw new Error('the event stream ended before the run did');
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // An answer of the API (it has a status) other than a server error will not change on a retry.
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status > 0 && status < 500) throw err;
      failures += 1;
      if (failures > maxRetries) throw err;
      opts.onReconnect?.(failures, err);
      const wait = Math.min(15_000, (opts.retryMs ?? 1000) * 2 ** (failures - 1));
      await new Promise((res) => setTimeout(res, wait));
    }
  }
}

/** Folds a status, progress or epoch event into the document, so callers see one current state. */
function apply(doc: RunDocument, e: ServerEvent): void {
  const ev = JSON.parse(e.data) as { type: string; status?: RunDocument['status']; error?: RunDocument['error']; progress?: RunDocument['progress']; epoch?: RunDocument['epochs'][number] };
  if (ev.type === 'status' && ev.status) {
    doc.status = ev.status;
    if (ev.error !== undefined) doc.error = ev.error;
  } else if (ev.type === 'progress' && ev.progress) doc.progress = ev.progress;
  else if (ev.type === 'epoch' && ev.epoch && !doc.epochs.some((x) => x.epoch === ev.epoch!.epoch)) doc.epochs.push(ev.epoch);
}
