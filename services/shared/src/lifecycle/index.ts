// Run lifecycle (issue 9): deletion, retention, retry, export and import of sweeps.
export type { LifecycleDeps } from './deps.ts';
export * from './delete.ts';
export * from './retention.ts';
export * from './retry.ts';
export * from './transfer.ts';
export * from './sweep-runs.ts';
export * from './sweep-membership.ts';
