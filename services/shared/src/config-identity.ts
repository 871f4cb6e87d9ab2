/**
 * A config's identity, in one place. Two effective configs (defaults filled in) that differ only in the fields listed
 * in RESULT_NEUTRAL_FIELDS train the same weights and give the same numbers: they are the same run's work. Used for
 * sweeps (identical configs run once) and checkpoints (a checkpoint resumes only the work that wrote it).
 */
import { createHash } from 'node:crypto';
import { defaultInit, type ExperimentConfig } from './schemas/experiment.ts';

/**
 * The fields that do not change a run's result: its label, its queue priority, its exemption from retention and its
 * wall-clock budget (a run stopped by the budget fails; one that finishes within it is the same run). Paths into
 * ExperimentConfig; everything else is part of the identity. Add a field here only when it cannot move a number.
 */
export const RESULT_NEUTRAL_FIELDS = ['name', 'priority', 'keep', 'training.maxMinutes'] as const;

/** JSON with object keys sorted and undefined members left out, so equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Fields added after runs were stored, left out of the identity at the default that keeps the old behaviour: a config
 * that does not use them is the same work it was before they existed (its checkpoints resume, a sweep dedups it
 * against older requests).
 */
export const IDENTITY_DEFAULTS: readonly (readonly [path: string, value: unknown])[] = [
  ['representation.update', 'refit'],
  ['training.master', 'float32'],
];

/** The config without its result-neutral fields (and without the later fields at their default). */
export function resultFields(config: ExperimentConfig): Record<string, unknown> {
  const out = structuredClone(config) as unknown as Record<string, unknown>;
  for (const [path, value] of IDENTITY_DEFAULTS) {
    const parts = path.split('.');
    let at: Record<string, unknown> | undefined = out;
    for (const p of parts.slice(0, -1)) at = at?.[p] as Record<string, unknown> | undefined;
    if (at && at[parts[parts.length - 1]] === value) delete at[parts[parts.length - 1]];
  }
  // `init` spelled out as the model's default is the same work as `init` left out (and configs from before the field
  // keep their identity). The model itself is part of the identity: an uploaded model's id names fixed weights.
  if (out.init === defaultInit(config.model)) delete out.init;
  for (const path of RESULT_NEUTRAL_FIELDS) {
    const parts = path.split('.');
    let at: Record<string, unknown> | undefined = out;
    for (const p of parts.slice(0, -1)) at = at?.[p] as Record<string, unknown> | undefined;
    if (at) delete at[parts[parts.length - 1]];
  }
  return out;
}

/** The identity of a config's work: canonical JSON of its result fields (equal strings = the same run's work). */
export function configIdentity(config: ExperimentConfig): string {
  return canonicalJson(resultFields(config));
}

/** sha256 (hex) of configIdentity: what a checkpoint records to resume only the work that wrote it. */
export function configIdentityHash(config: ExperimentConfig): string {
  return sha256(configIdentity(config));
}

/**
 * sha256 (hex) of the whole effective config, canonical JSON: a run's provenance.configHash, which names exactly the
 * config it ran (result-neutral fields included, so it tells two such runs apart).
 */
export function configHash(config: ExperimentConfig): string {
  return sha256(canonicalJson(config));
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
