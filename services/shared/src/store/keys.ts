/** Every Redis key quantlab writes outside BullMQ, under one prefix. */
export function keysFor(prefix: string) {
  const index = `${prefix}:runs:`;
  const run = `${prefix}:run:`;
  return {
    /** The run's hash (RunStore alone reads and writes it); its Lua scripts build it as `runKeyPrefix .. id`. */
    run: (id: string) => `${run}${id}`,
    runKeyPrefix: run,
    /** A finished run's document rendered as JSON (a cache: every write to the run deletes it). */
    runDocument: (id: string) => `${run}${id}:doc`,
    epochs: (id: string) => `${prefix}:run:${id}:epochs`,
    artifact: (id: string) => `${prefix}:run:${id}:artifact`,
    checkpoint: (id: string) => `${prefix}:run:${id}:checkpoint`,
    events: (id: string) => `${prefix}:events:${id}`,
    /** zset of run ids scored by creation time (ms). */
    runs: `${prefix}:runs`,
    /**
     * The run indexes (zsets scored like `runs`), kept by RunStore in the same atomic write as the field they index.
     * RunStore's Lua scripts build the same names from this prefix: `<index>status:<s>`, `<index>dataset:<d>`, ...
     */
    runIndexPrefix: index,
    runsByStatus: (status: string) => `${index}status:${status}`,
    runsByDataset: (dataset: string) => `${index}dataset:${dataset}`,
    runsByKind: (kind: string) => `${index}kind:${kind}`,
    /** Every run that carries the sweep's id, earlier attempts of retried runs included. */
    runsBySweep: (sweepId: string) => `${index}sweep:${sweepId}`,
    /** The version of the indexes above that the stored runs have been brought to (see RunStore.ensureIndexes). */
    indexVersion: `${index}indexed`,
    sweep: (id: string) => `${prefix}:sweep:${id}`,
    /** RunStore's scripts build a sweep's keys as `sweepKeyPrefix .. id` from a run's `sweepId`. */
    sweepKeyPrefix: `${prefix}:sweep:`,
    /**
     * A finished sweep's rendered GET /sweeps/:id document (a cache, SweepStore's): every write to one of the sweep's
     * runs (RunStore's scripts) or to its record deletes it and moves the record's `rev` on.
     */
    sweepDocument: (id: string) => `${prefix}:sweep:${id}:doc`,
    sweeps: `${prefix}:sweeps`,
    /** hash of a sweep's early-stopping decisions: `run:epoch` -> 'continue' or the stop (JSON), `run` -> its stop. */
    sweepStops: (id: string) => `${prefix}:sweep:${id}:stops`,
    /** zset of a sweep's per-epoch test accuracies: member `epoch:run`, score epoch * 10 + accuracy. */
    sweepAccuracies: (id: string) => `${prefix}:sweep:${id}:accuracies`,
    idempotency: (key: string) => `${prefix}:idem:${key}`,
    /** Held by the one ids=same import allowed to check and write at a time. */
    importClaim: `${prefix}:import-claim`,
    /** An uploaded model's record (JSON: summary, graph, param specs) and its weights (float32, param order); ModelStore alone. */
    model: (id: string) => `${prefix}:model:${id}`,
    modelWeights: (id: string) => `${prefix}:model:${id}:weights`,
    /** zset of model ids scored by upload time (ms). */
    models: `${prefix}:models`,
    worker: (id: string) => `${prefix}:worker:${id}`,
    workers: `${prefix}:workers`,
  };
}
export type Keys = ReturnType<typeof keysFor>;
