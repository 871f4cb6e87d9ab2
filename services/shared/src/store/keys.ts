/** Every Redis key quantlab writes outside BullMQ, under one prefix. */
export function keysFor(prefix: string) {
  return {
    run: (id: string) => `${prefix}:run:${id}`,
    epochs: (id: string) => `${prefix}:run:${id}:epochs`,
    artifact: (id: string) => `${prefix}:run:${id}:artifact`,
    checkpoint: (id: string) => `${prefix}:run:${id}:checkpoint`,
    events: (id: string) => `${prefix}:events:${id}`,
    /** zset of run ids scored by creation time (ms). */
    runs: `${prefix}:runs`,
    sweep: (id: string) => `${prefix}:sweep:${id}`,
    sweeps: `${prefix}:sweeps`,
    /** hash of a sweep's early-stopping decisions: `run:epoch` -> continue | stop:reason, `run` -> the stop. */
    sweepStops: (id: string) => `${prefix}:sweep:${id}:stops`,
    /** zset of a sweep's per-epoch test accuracies: member `epoch:run`, score epoch * 10 + accuracy. */
    sweepAccuracies: (id: string) => `${prefix}:sweep:${id}:accuracies`,
    idempotency: (key: string) => `${prefix}:idem:${key}`,
    worker: (id: string) => `${prefix}:worker:${id}`,
    workers: `${prefix}:workers`,
  };
}
export type Keys = ReturnType<typeof keysFor>;
