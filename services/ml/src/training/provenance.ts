/** Where a run's numbers come from: versions, backend, host and the hash of the effective config. */
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { configHash, QUANTLAB_VERSION, type ExperimentConfig, type Provenance } from '@quantlab/shared';

let cached: { version: string; commit: string | null } | undefined;
function versionInfo() {
  if (cached) return cached;
  const version = QUANTLAB_VERSION;
  let commit: string | null = process.env.QUANTLAB_GIT_COMMIT ?? null;
  if (!commit) {
    try {
      commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: new URL('.', import.meta.url), stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || null;
    } catch {
      commit = null;
    }
  }
  cached = { version, commit };
  return cached;
}

/**
 * The provenance of a run about to train. The TF.js version comes from the caller (the training thread reports it when
 * ready), so this module does not load TF.js: the worker's main thread never needs it.
 */
export function provenanceOf(config: ExperimentConfig, runtime: { backend: string; tfjsVersion: string }, workerId: string | null): Provenance {
  const v = versionInfo();
  return {
    quantlabVersion: v.version,
    gitCommit: v.commit,
    tfjsVersion: runtime.tfjsVersion,
    backend: runtime.backend,
    node: process.version,
    workerId,
    host: hostname(),
    configHash: configHash(config),
  };
}
