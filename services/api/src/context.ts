import type { Redis } from 'ioredis';
import type { Env, ModelStore, RunQueue, RunStore, SweepStore, WorkerDirectory } from '@quantlab/shared';
import type { EventHub } from './events-hub.ts';

/** What every route needs, decorated on the app as `app.ql`. */
export interface ApiContext {
  env: Env;
  redis: Redis;
  runs: RunStore;
  sweeps: SweepStore;
  models: ModelStore;
  workers: WorkerDirectory;
  queue: RunQueue;
  hub: EventHub;
  /**
   * Reads answer with the store's rendered JSON as it is (server.ts). Off when responses are validated against
   * their schemas (tests): then reads build documents and the serializer checks them.
   */
  rawReads: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    ql: ApiContext;
  }
  interface FastifyContextConfig {
    /** Skip the bearer token check (health, documentation). */
    public?: boolean;
    /** Also accept a short-lived ?token= (server-sent events for EventSource clients). */
    eventToken?: boolean;
  }
}
