/** Where a run's numbers come from: versions, backend, host and the hash of the effective config. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { QUANTLAB_VERSION, type ExperimentConfig, type Provenance } from '@quantlab/shared';

/** JSON with object keys sorted, so equal configs hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function configHash(config: ExperimentConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

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

export function provenanceOf(config: ExperimentConfig, backend: string, workerId: string | null): Provenance {
  const v = versionInfo();
  return {
    quantlabVersion: v.version,
    gitCommit: v.commit,
    tfjsVersion: tf.version_core,
    backend,
    node: process.version,
    workerId,
    host: hostname(),
    configHash: configHash(config),
  };
}
