// Kept free of zod, so the CLI's bundle can label runs without loading the schemas.

/** A short human label such as `fixed:8` or `dictionary:4` (of a Representation). */
export function labelOf(r: { kind: string; bits?: number }): string {
  return r.kind === 'float32' ? 'float32' : `${r.kind}:${r.bits}`;
}
