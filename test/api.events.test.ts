import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { buildApp } from '@quantlab/api';
import { testEnv } from './helpers/redis.ts';

const TOKEN = 'sse-test-token-123';
const env = testEnv('api-events', { API_TOKEN: TOKEN });
const app = await buildApp({ env, logger: false, sseHeartbeatMs: 100 });
await app.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const auth = { authorization: `Bearer ${TOKEN}` };
const { runs } = app.ql;
after(async () => {
  await app.close();
  await env.cleanup();
});

interface Sse {
  events: { event: string; data: unknown }[];
  comments: number;
  ended: Promise<void>;
  next(event: string): Promise<unknown>;
}

/** Reads an event stream with fetch (as the dashboard does), parsing `event:`/`data:` blocks. */
async function open(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; sse: Sse }> {
  const res = await fetch(url, { headers });
  const sse: Sse = { events: [], comments: 0, ended: Promise.resolve(), next: async () => undefined };
  const waiters: { event: string; resolve(v: unknown): void }[] = [];
  sse.next = (event) =>
    new Promise((resolve, reject) => {
      const seen = sse.events.find((e) => e.event === event && !(e as { taken?: boolean }).taken);
      if (seen) {
        (seen as { taken?: boolean }).taken = true;
        return resolve(seen.data);
      }
      waiters.push({ event, resolve });
      setTimeout(() => reject(new Error(`no ${event} event within 5 s`)), 5000).unref();
    });
  if (res.body && res.headers.get('content-type')?.startsWith('text/event-stream')) {
    sse.ended = (async () => {
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.startsWith(':')) {
            sse.comments++;
            continue;
          }
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          const data = /^data: (.*)$/m.exec(block)?.[1];
          const item = { event, data: data ? JSON.parse(data) : null, taken: false };
          const w = waiters.findIndex((x) => x.event === event);
          if (w >= 0) {
            item.taken = true;
            waiters.splice(w, 1)[0].resolve(item.data);
          }
          sse.events.push(item);
        }
      }
    })();
  } else {
    await res.text();
  }
  return { status: res.status, type: res.headers.get('content-type'), sse };
}

async function newRun(): Promise<string> {
  const res = await fetch(`${base}/experiments`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ dataset: 'mnist', model: 'mlp', training: { epochs: 2 } }) });
  assert.equal(res.status, 202);
  return ((await res.json()) as { id: string }).id;
}

test('SSE: the current document first, then status and epochs as they happen, heartbeats, closed when final', async () => {
  const id = await newRun();
  const { status, type, sse } = await open(`${base}/experiments/${id}/events`, auth);
  assert.equal(status, 200);
  assert.match(type ?? '', /^text\/event-stream/);
  const snapshot = (await sse.next('snapshot')) as { id: string; status: string };
  assert.equal(snapshot.id, id);
  assert.equal(snapshot.status, 'queued');

  await runs.update(id, { status: 'running', startedAt: new Date().toISOString() }, undefined, { type: 'status', runId: id, status: 'running' });
  assert.deepEqual(await sse.next('status'), { type: 'status', runId: id, status: 'running' });
  const epoch = { epoch: 1, trainLoss: 0.5, trainAccuracy: 0.8, testAccuracy: 0.85, durationMs: 1000, imagesPerSec: 300 };
  await runs.addEpoch(id, epoch, 2);
  assert.deepEqual(await sse.next('epoch'), { type: 'epoch', runId: id, epoch });
  await new Promise((r) => setTimeout(r, 250));
  assert.ok(sse.comments >= 1, 'heartbeat comments keep the stream alive');

  await runs.update(id, { status: 'completed' }, undefined, { type: 'status', runId: id, status: 'completed' });
  assert.equal(((await sse.next('status')) as { status: string }).status, 'completed');
  await sse.ended; // the server ends the stream after a final status
  assert.deepEqual(sse.events.map((e) => e.event), ['snapshot', 'status', 'epoch', 'status']);
});

test('SSE of a finished run sends the document and ends; unknown and malformed ids are problems', async () => {
  const id = await newRun();
  await runs.update(id, { status: 'cancelled' });
  const { sse } = await open(`${base}/experiments/${id}/events`, auth);
  await sse.ended;
  assert.deepEqual(sse.events.map((e) => e.event), ['snapshot']);
  const missing = await open(`${base}/experiments/run_nosuchrun/events`, auth);
  assert.equal(missing.status, 404);
  assert.match(missing.type ?? '', /application\/problem\+json/);
  assert.equal((await open(`${base}/experiments/bad!id/events`, auth)).status, 400);
});

test('SSE auth: bearer header or a short-lived token for that run only', async () => {
  const id = await newRun();
  const other = await newRun();
  assert.equal((await open(`${base}/experiments/${id}/events`)).status, 401);
  assert.equal((await open(`${base}/experiments/${id}/events?token=nonsense`)).status, 401);
  const tokenRes = await fetch(`${base}/experiments/${id}/events/token`, { headers: auth });
  const { token, url } = (await tokenRes.json()) as { token: string; url: string };
  assert.ok(token.length > 10);
  assert.equal((await open(`${base}/experiments/${other}/events?token=${encodeURIComponent(token)}`)).status, 401, 'scoped to one run');
  const ok = await open(`${base}${url}`);
  assert.equal(ok.status, 200);
  assert.equal(((await ok.sse.next('snapshot')) as { id: string }).id, id);
  await runs.update(id, { status: 'failed' }, undefined, { type: 'status', runId: id, status: 'failed', error: { message: 'x' } });
  await ok.sse.ended;
  // the token does not open anything else
  assert.equal((await fetch(`${base}/experiments/${id}?token=${encodeURIComponent(token)}`)).status, 401);
});

test('a client that goes away at any moment leaves no subscription or heartbeat behind', async () => {
  const id = await newRun();
  // Abort at different points of the stream's setup: before, during and after the snapshot.
  for (const delay of [0, 1, 2, 5, 10, 20, 50]) {
    const ac = new AbortController();
    const pending = fetch(`${base}/experiments/${id}/events`, { headers: auth, signal: ac.signal }).then((r) => r.body?.getReader().read());
    setTimeout(() => ac.abort(), delay);
    await pending.catch(() => {});
  }
  const deadline = Date.now() + 3000;
  while (app.ql.hub.channels > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(app.ql.hub.channels, 0, 'every stream unsubscribed');
});

test('a final status whose message never arrived still ends the stream at a heartbeat, with its reason', async () => {
  const id = await newRun();
  const { sse } = await open(`${base}/experiments/${id}/events`, auth);
  await sse.next('snapshot');
  // Stored without publishing: as if the subscriber's connection dropped the message.
  await runs.update(id, { status: 'failed', error: { message: 'lost on the wire' } });
  assert.deepEqual(await sse.next('status'), { type: 'status', runId: id, status: 'failed', error: { message: 'lost on the wire' } });
  await sse.ended;
  assert.deepEqual(sse.events.map((e) => e.event), ['snapshot', 'status']);
});

test('a second stream on a channel being subscribed waits until Redis confirmed the subscription', async () => {
  const { hub } = app.ql;
  const channel = `${env.KEY_PREFIX}hub-test`;
  const heard: string[] = [];
  const first = hub.listen(channel, (m) => heard.push(`a:${m}`));
  const unlistenB = await hub.listen(channel, (m) => heard.push(`b:${m}`));
  // Published on another connection right after listen returned: heard only if the SUBSCRIBE was already in effect.
  await app.ql.redis.publish(channel, 'x');
  const deadline = Date.now() + 2000;
  while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(heard.sort(), ['a:x', 'b:x']);
  await (await first)();
  await unlistenB();
  assert.equal(hub.channels, 0);
});

test('a subscription Redis refuses leaves no listener behind: the next stream on that channel subscribes anew', async () => {
  const { EventHub } = await import('@quantlab/api/events-hub');
  // First a port nothing listens on, without an offline queue (SUBSCRIBE is refused at once); then the real Redis.
  const urls = ['redis://127.0.0.1:1', env.REDIS_URL];
  const hub = new EventHub(() => {
    const url = urls.shift()!;
    return url === env.REDIS_URL ? new Redis(url) : new Redis(url, { enableOfflineQueue: false, retryStrategy: () => null }).on('error', () => {});
  });
  await assert.rejects(hub.listen('ch', () => {}), /writeable/);
  assert.equal(hub.channels, 0);
  await hub.close();
  const unlisten = await hub.listen('ch', () => {});
  assert.equal(hub.channels, 1);
  await unlisten();
  assert.equal(hub.channels, 0);
  await hub.close();
});
