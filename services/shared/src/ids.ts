import { randomBytes } from 'node:crypto';

/** Sortable by creation time (ms timestamp prefix), unguessable suffix. */
export function newId(prefix: 'run' | 'swp' | 'mdl'): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
}
