// Prometheus metrics every quantlab process exports (the API and each worker): the process's default metrics under
// prom-client's standard names, the run queue's depth, and the latency of its own Redis commands. Each process adds its
// own (HTTP latency in the API; runs, epochs, checkpoints and fence rejections in a worker) to the same registry.
import { collectDefaultMetrics, Gauge, Registry, type Metric } from 'prom-client';
import type { Redis } from 'ioredis';

/** Marks a Redis command whose latency is being observed. */
const TIMED = Symbol('quantlab.redisTimed');

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
  const redisLatency = new HotHistogram(
    'quantlab_redis_command_duration_seconds',
    'Latency of this process’s Redis commands (send to reply), by command.',
    ['command'],
    REDIS_BUCKETS,
    registry,
  );
  // Zero-filled from start, so rate() and histogram_quantile() have a series before the first command of each kind.
  for (const command of ['evalsha', 'hgetall', 'hget', 'hset', 'get', 'set', 'exists', 'zadd', 'ping']) redisLatency.series(command);
  // ioredis's command name as sent → its series (lower-cased once per name, not per command).
  const byName = new Map<string, HistogramSeries>();

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

  return {
    registry,
    contentType: registry.contentType,
    instrumentRedis(redis) {
      const send = redis.sendCommand.bind(redis);
      redis.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], stream?: unknown) => {
        // ioredis passes a command through sendCommand again when it flushes its offline queue: time it once. (A mark
        // on the command, not a WeakSet: adding every command to a WeakSet cost ~0.13 µs plus the GC's weak-table work.)
        const c = command as typeof command & { [TIMED]?: true };
        if (c[TIMED] === undefined) {
          c[TIMED] = true;
          let series = byName.get(command.name);
          if (!series) byName.set(command.name, (series = redisLatency.series(command.name.toLowerCase())));
          const done = observeSince(series, performance.now());
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

/** Observes the seconds from `start` (a performance.now()) when called; made here, not inline, so no per-call name is set on it. */
function observeSince(series: HistogramSeries, start: number): () => void {
  return () => series.observe((performance.now() - start) / 1000);
}

/** One label combination of a HotHistogram: its bucket counts, sum and count. */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string>,
    private readonly upperBounds: readonly number[],
  ) {
    this.counts = upperBounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram for observations made on every request, exported exactly as prom-client's Histogram is (same lines, same
 * order). prom-client's observe() validates and hashes the label object on every call, about 1.5 µs, several per cent
 * of a 4 KB run read; here a series is looked up by its label values (or kept) and observing is a bucket search and
 * three additions.
 */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bySeries = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values (in labelNames order), created at zero the first time. */
  series(...values: string[]): HistogramSeries {
    const key = values.length === 1 ? values[0] : values.join('\u0000');
    let s = this.bySeries.get(key);
    if (!s) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]));
      this.bySeries.set(key, (s = new HistogramSeries(labels, this.upperBounds)));
    }
    return s;
  }

  reset(): void {
    this.bySeries.clear();
  }

  /** What the registry renders: prom-client's Histogram#getForPromString shape. */
  getForPromString() {
    const bucket = `${this.name}_bucket`;
    const values: { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string; exemplar?: null }[] = [];
    for (const s of this.bySeries.values()) {
      let acc = 0;
      this.upperBounds.forEach((le, i) => values.push({ labels: { le }, sharedLabels: s.labels, value: (acc += s.counts[i]), metricName: bucket, exemplar: null }));
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** prom-client's Histogram#get shape (labels and shared labels in one object). */
  async get() {
    const data = this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } })) };
  }
}
