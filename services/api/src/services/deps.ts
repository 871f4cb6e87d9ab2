import type { Env, ModelStore, RunQueue, RunStore, SweepStore, WorkerDirectory } from '@quantlab/shared';

/**
 * What the use cases need: the stores (the only code that knows the Redis layout), the run queue and the settings.
 * Narrow on purpose: unit tests hand in fakes of exactly this.
 */
export interface ServiceDeps {
  env: Pick<Env, 'KEY_PREFIX' | 'QUEUE_NAME' | 'RETENTION_DAYS' | 'IMPORT_MAX_RUNS' | 'IMPORT_MAX_EPOCHS_PER_RUN' | 'IMPORT_MAX_STRING_LENGTH' | 'ARTIFACT_MAX_BYTES'>;
  /** Uploaded models (POST /models), and the runs that use one are checked against them. */
  models: ModelStorePort;
  runs: RunStorePort;
  sweeps: SweepStorePort;
  /** The worker registry: which datasets the live workers serve. */
  workers: Pick<WorkerDirectory, 'list'>;
  queue: Pick<RunQueue, 'add' | 'addBulk' | 'getJob' | 'remove'>;
}

/** The part of RunStore the use cases call. */
export type RunStorePort = Pick<
  RunStore,
  | 'createMany'
  | 'importMany'
  | 'claimImport'
  | 'update'
  | 'requestCancel'
  | 'delete'
  | 'revokeFence'
  | 'get'
  | 'getMany'
  | 'getJson'
  | 'getJsonOne'
  | 'fields'
  | 'status'
  | 'exists'
  | 'getArtifact'
  | 'listIds'
  | 'sweepMembers'
  | 'idsByStatusCreatedBefore'
  | 'idsPage'
>;
export type ModelStorePort = Pick<ModelStore, 'create' | 'get' | 'list' | 'delete'>;
export type SweepStorePort = Pick<SweepStore, 'create' | 'queueCreate' | 'get' | 'getMany' | 'delete' | 'editRuns' | 'listIds' | 'readDocument' | 'cacheDocument'>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
