import type { Redis } from 'ioredis';

type Listener = (message: string) => void;

/**
 * One Redis subscriber connection for the whole API, shared by every SSE stream: a channel is subscribed while at
 * least one stream listens to it. (A connection per stream would cost a Redis client per open browser tab.)
 */
export class EventHub {
  private sub: Redis | null = null;
  private readonly listeners = new Map<string, Set<Listener>>();
  /** A channel's SUBSCRIBE until Redis confirmed it: a second stream on that channel waits for it too. */
  private readonly subscribing = new Map<string, Promise<unknown>>();

  constructor(private readonly connect: () => Redis) {}

  async listen(channel: string, fn: Listener): Promise<() => Promise<void>> {
    if (!this.sub) {
      this.sub = this.connect();
      this.sub.on('message', (ch: string, msg: string) => {
        for (const l of this.listeners.get(ch) ?? []) l(msg);
      });
    }
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      const subscribed = this.sub.subscribe(channel).finally(() => this.subscribing.delete(channel));
      this.subscribing.set(channel, subscribed);
    }
    set.add(fn);
    // Only a confirmed subscription hears what is published from now on; a caller reads state after this returns.
    try {
      await this.subscribing.get(channel);
    } catch (e) {
      // Not subscribed (Redis away): forget the listener, so that the next stream on the channel subscribes anew.
      set.delete(fn);
      if (set.size === 0 && this.listeners.get(channel) === set) this.listeners.delete(channel);
      throw e;
    }
    return async () => {
      const s = this.listeners.get(channel);
      if (!s) return;
      s.delete(fn);
      if (s.size === 0) {
        this.listeners.delete(channel);
        await this.sub?.unsubscribe(channel).catch(() => {});
      }
    };
  }

  /** Channels with at least one listener (tests check that closed streams let go of theirs). */
  get channels(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.sub) await this.sub.quit().catch(() => this.sub?.disconnect());
    this.sub = null;
  }
}
