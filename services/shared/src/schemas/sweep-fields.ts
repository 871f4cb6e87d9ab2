import { z } from 'zod';
import { ExperimentConfig, TrainingConfig } from './experiment.ts';
import { DictionaryRepresentation, FixedRepresentation } from './representation.ts';

/**
 * The fields of ExperimentConfig a sweep may vary, by dotted path ("training.learningRate", "model",
 * "representation.bits"), each with the schema of one value. Derived from the config schemas, so a new config field
 * can be swept without touching this file. Left out on purpose: name and priority (set per run by the sweep), keep and
 * training.maxMinutes (they do not change a result), and the fields with their own `vary` entry (representation as a
 * whole, phase, training.seed).
 */
export interface SweepField {
  path: string;
  /** The schema of one value (defaults and optionality removed). */
  value: z.ZodType;
  numeric: boolean;
  integer: boolean;
}

const OWN_ENTRY: Record<string, string> = {
  phase: 'vary.phase',
  representation: 'vary.representation',
  'training.seed': 'vary.seeds',
  'representation.kind': 'vary.representation',
};
// Result-neutral fields (config-identity.ts) would give the same run again: not worth a dimension of a search.
const NOT_SWEPT = new Set(['name', 'priority', 'keep', 'training', 'training.maxMinutes']);

function inner(t: z.ZodType): z.ZodType {
  let s = t;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s;
}

function fieldOf(path: string, value: z.ZodType): SweepField {
  const numeric = value instanceof z.ZodNumber;
  return { path, value, numeric, integer: numeric && (value as z.ZodNumber).isInt === true };
}

function collect(): Map<string, SweepField> {
  const out = new Map<string, SweepField>();
  for (const [k, t] of Object.entries(ExperimentConfig.shape)) {
    if (NOT_SWEPT.has(k) || k in OWN_ENTRY) continue;
    out.set(k, fieldOf(k, inner(t as z.ZodType)));
  }
  for (const [k, t] of Object.entries(TrainingConfig.shape)) {
    const path = `training.${k}`;
    if (!(path in OWN_ENTRY) && !NOT_SWEPT.has(path)) out.set(path, fieldOf(path, inner(t as z.ZodType)));
  }
  // A representation field may exist in several kinds (bits): any of their values is accepted here, and each
  // expanded representation is checked against its own kind's schema when the sweep is planned.
  const reprFields = new Map<string, z.ZodType[]>();
  for (const shape of [FixedRepresentation.shape, DictionaryRepresentation.shape]) {
    for (const [k, t] of Object.entries(shape)) {
      if (k === 'kind') continue;
      reprFields.set(k, [...(reprFields.get(k) ?? []), inner(t as z.ZodType)]);
    }
  }
  for (const [k, all] of reprFields) {
    const path = `representation.${k}`;
    // The same field with the same schema in several kinds (granularity) is one schema, not a union of copies.
    const schemas = all.filter((s, i) => all.findIndex((t) => JSON.stringify(z.toJSONSchema(t)) === JSON.stringify(z.toJSONSchema(s))) === i);
    const allNumeric = schemas.every((s) => s instanceof z.ZodNumber);
    const value = allNumeric ? (schemas.every((s) => (s as z.ZodNumber).isInt) ? z.number().int() : z.number()) : schemas.length === 1 ? schemas[0] : z.union(schemas as [z.ZodType, z.ZodType]);
    out.set(path, fieldOf(path, value));
  }
  return out;
}

export const SWEEP_FIELDS: ReadonlyMap<string, SweepField> = collect();

/** Why a path cannot be varied, or null when it can. */
export function unknownFieldReason(path: string): string | null {
  if (SWEEP_FIELDS.has(path)) return null;
  // Own keys only: `in` would also find Object.prototype's ("constructor", "toString") and name them as entries.
  if (Object.hasOwn(OWN_ENTRY, path)) return `"${path}" has its own entry: use ${OWN_ENTRY[path]}`;
  return `"${path}" is not a field of the experiment a sweep can vary (one of: ${[...SWEEP_FIELDS.keys()].join(', ')})`;
}
