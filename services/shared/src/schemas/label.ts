// Kept free of zod (types only), so the CLI's bundle can label runs without loading the schemas.
import type { Representation } from './representation.ts';

/** A short human label such as `fixed:8` or `dictionary:4`. */
export function labelOf(r: Pick<Representation, 'kind'> & { bits?: number }): string {
  return r.kind === 'float32' ? 'float32' : `${r.kind}:${r.bits}`;
}
