// Kept free of imports (zod above all), so the CLI's bundle can label runs without loading the schemas.

/** A short human label such as `fixed:8` or `dictionary:4`. */
export function labelOf(r: { kind: 'float32' | 'fixed' | 'dictionary'; bits?: number }): string {
  return r.kind === 'float32' ? 'float32' : `${r.kind}:${r.bits}`;
}
