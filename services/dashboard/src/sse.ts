import { apiFetch } from './api.ts';

export interface ServerEvent {
  event: string;
  data: string;
}

/**
 * Server-Sent Events over fetch, so the Authorization header goes along (EventSource cannot send headers).
 * Resolves when the server ends the stream; rejects on HTTP errors; stops quietly when `signal` aborts.
 */
export async function streamEvents(path: string, onEvent: (e: ServerEvent) => void, signal: AbortSignal): Promise<void> {
  const res = await apiFetch(path, { headers: { Accept: 'text/event-stream' }, signal });
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let cut: number;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
        const ev = parseBlock(block);
        if (ev) onEvent(ev);
      }
    }
  } catch (e) {
    if (signal.aborted) return;
    throw e;
  } finally {
    reader.releaseLock();
  }
}

function parseBlock(block: string): ServerEvent | null {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':') || line === '') continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length || event !== 'message' ? { event, data: data.join('\n') } : null;
}
