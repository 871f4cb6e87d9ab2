// Prometheus metrics every quantlab process exports (the API and each worker): the process's default metrics under
// prom-client's standard names, the run queue's depth, and the latency of its own Redis commands. Each process adds its
// own (HTTP latency in the API; runs, epochs, checkpoints and fence rejections in a worker) to the same registry.
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Redis } from 'ioredis';

/** BullMQ job states reported by quantlab_queue_jobs. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;

/** Worker slots the queue can use now: runs waiting for a worker (FIFO or by priority) plus runs being trained. */
export function slotsWanted(c: Partial<Record<string, number>>): number {
  return (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0);
}

/** Seconds; from a pipelined GET (0.1 ms on loopback) to a checkpoint upload over a slow link. */
const REDIS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface QueueCounts {
  getJobCounts(...states: string[]): Promise<Partial<Record<string, number>>>;
}

export interface ProcessMetrics {
  registry: Registry;
  /** Times every command sent on this connection (pipelines and scripts included) by command name. */
  instrumentRedis(redis: Redis): void;
  /** The exposition text; reads the queue depth from Redis (one call). */
  render(): Promise<string>;
  contentType: string;
}

/** A registry per process (tests run an API and a worker in one process). */
export function createProcessMetrics(queue: QueueCounts): ProcessMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const redisUp = new Gauge({ name: 'quantlab_redis_up', help: '1 if the last scrape could read the queue from Redis, else 0.', registers: [registry] });
  const jobs = new Gauge({ name: 'quantlab_queue_jobs', help: 'Jobs in the run queue by BullMQ state.', labelNames: ['state'] as const, registers: [registry] });
  const pending = new Gauge({
    name: 'quantlab_queue_pending',
    help: 'Runs waiting for a worker: waiting plus prioritized jobs.',
    registers: [registry],
  });
  const wanted = new Gauge({
    name: 'quantlab_worker_slots_wanted',
    help: 'Worker slots the queue can use now: waiting plus prioritized plus active jobs (what the autoscaler targets).',
    registers: [registry],
  });
  const redisLatency = new Histogram({
    name: 'quantlab_redis_command_duration_seconds',
    help: 'Latency of this process’s Redis commands (send to reply), by command.',
    labelNames: ['command'] as const,
    buckets: REDIS_BUCKETS,
    registers: [registry],
  });
  // Zero-filled from start, so rate() and histogram_quantile() have a series before the first command of each kind.
  for (const command of ['evalsha', 'hgetall', 'hget', 'hset', 'get', 'set', 'exists', 'zadd', 'ping']) redisLatency.zero({ command });

  async function readQueue(): Promise<void> {
    try {
      const c = await queue.getJobCounts(...QUEUE_STATES);
      for (const state of QUEUE_STATES) jobs.set({ state }, c[state] ?? 0);
      pending.set((c.waiting ?? 0) + (c.prioritized ?? 0));
      wanted.set(slotsWanted(c));
      redisUp.set(1);
    } catch {
      // Stale depths would mislead an autoscaler: no series while Redis cannot be read.
      jobs.reset();
      pending.reset();
      wanted.reset();
      redisUp.set(0);
    }
  }

  const timed = new WeakSet<object>();
  return {
    registry,
    contentType: registry.contentType,
    instrumentRedis(redis) {
      const send = redis.sendCommand.bind(redis);
      redis.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], stream?: unknown) => {
        // ioredis passes a command through sendCommand again when it flushes its offline queue: time it once.
        if (!timed.has(command)) {
          timed.add(command);
          const end = redisLatency.startTimer({ command: command.name.toLowerCase() });
          const done = () => void end(); // (end's argument would be taken as labels)
          command.promise.then(done, done);
        }
        return (send as (c: unknown, s?: unknown) => unknown)(command, stream);
      }) as Redis['sendCommand'];
    },
    async render() {
      await readQueue();
      return registry.metrics();
    },
  };
}
