// A worker's Prometheus metrics: what its runs did (by representation), how fast its epochs went (by backend), its
// checkpoint writes and fence rejections, plus the shared process metrics (defaults, queue depth, Redis latency).
// With METRICS_PORT set they are served, unauthenticated as scrape targets are, on METRICS_HOST:METRICS_PORT/metrics.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram } from 'prom-client';
import { REPRESENTATION_KINDS, type EpochMetrics, type Representation } from '@quantlab/shared';
import { createProcessMetrics, type ProcessMetrics, type QueueCounts } from '@quantlab/shared/metrics';

/** Seconds per epoch: a few hundred digits on wasm (0.1 s) to cnn5 on cifar10 on one core (10+ minutes). */
const EPOCH_SECONDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
/** Training images per second: cnn5 on one wasm core (~100) to mlp on tfjs-node (~100,000). */
const IMAGES_PER_SECOND = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000];

export type StopReason = 'cancel' | 'shutdown' | 'stopped';

export interface WorkerMetrics {
  process: ProcessMetrics;
  runStarted(r: Representation): void;
  runCompleted(r: Representation): void;
  runFailed(r: Representation): void;
  runStopped(r: Representation, reason: StopReason): void;
  epoch(e: EpochMetrics): void;
  checkpointWritten(bytes: number): void;
  fenceRejected(): void;
  setBusySlots(n: number): void;
}

export function createWorkerMetrics(queue: QueueCounts, backend: string): WorkerMetrics {
  const process = createProcessMetrics(queue);
  const registers = [process.registry];
  const byRep = ['representation'] as const;
  const started = new Counter({ name: 'quantlab_runs_started_total', help: 'Runs this worker started (or resumed), by representation.', labelNames: byRep, registers });
  const completed = new Counter({ name: 'quantlab_runs_completed_total', help: 'Runs this worker completed, by representation.', labelNames: byRep, registers });
  const failed = new Counter({ name: 'quantlab_runs_failed_total', help: 'Runs this worker recorded as failed, by representation.', labelNames: byRep, registers });
  const stopped = new Counter({
    name: 'quantlab_runs_stopped_total',
    help: "Runs this worker stopped before the end: cancelled, handed back to the queue at shutdown, or stopped by their sweep's early-stopping rule.",
    labelNames: ['representation', 'reason'] as const,
    registers,
  });
  const epochSeconds = new Histogram({ name: 'quantlab_epoch_duration_seconds', help: 'Wall time of one training epoch, by backend.', labelNames: ['backend'] as const, buckets: EPOCH_SECONDS, registers });
  const imagesPerSecond = new Histogram({
    name: 'quantlab_epoch_images_per_second',
    help: 'Training throughput of one epoch, by backend.',
    labelNames: ['backend'] as const,
    buckets: IMAGES_PER_SECOND,
    registers,
  });
  const checkpoints = new Counter({ name: 'quantlab_checkpoint_writes_total', help: 'Checkpoints written (one per epoch).', registers });
  const checkpointBytes = new Counter({ name: 'quantlab_checkpoint_bytes_total', help: 'Bytes of checkpoints written.', registers });
  const fence = new Counter({
    name: 'quantlab_fenced_write_rejections_total',
    help: 'Writes refused because this worker no longer held the job lock (another worker owns the run).',
    registers,
  });
  const busy = new Gauge({ name: 'quantlab_worker_busy_slots', help: 'Runs this worker trains now.', registers });

  // Zero-filled from the start: every series exists before its first event, so rate() and quantiles see it.
  for (const representation of REPRESENTATION_KINDS) {
    for (const c of [started, completed, failed]) c.inc({ representation }, 0);
    for (const reason of ['cancel', 'shutdown', 'stopped'] as const) stopped.inc({ representation, reason }, 0);
  }
  epochSeconds.zero({ backend });
  imagesPerSecond.zero({ backend });
  checkpoints.inc(0);
  checkpointBytes.inc(0);
  fence.inc(0);
  busy.set(0);

  return {
    process,
    runStarted: (r) => started.inc({ representation: r.kind }),
    runCompleted: (r) => completed.inc({ representation: r.kind }),
    runFailed: (r) => failed.inc({ representation: r.kind }),
    runStopped: (r, reason) => stopped.inc({ representation: r.kind, reason }),
    epoch(e) {
      epochSeconds.observe({ backend }, e.durationMs / 1000);
      imagesPerSecond.observe({ backend }, e.imagesPerSec);
    },
    checkpointWritten(bytes) {
      checkpoints.inc();
      checkpointBytes.inc(bytes);
    },
    fenceRejected: () => fence.inc(),
    setBusySlots: (n) => busy.set(n),
  };
}

/** GET /metrics (Prometheus text) and GET /healthz (200 while the worker runs) on host:port; port 0 picks one. */
export async function serveMetrics(metrics: ProcessMetrics, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e.message}\n`),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics or /healthz\n');
    }
  });
  server.keepAliveTimeout = 65_000; // Prometheus reuses connections between scrapes
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
