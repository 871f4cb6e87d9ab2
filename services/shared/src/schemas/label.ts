// Kept free of imports (zod above all), so the CLI's bundle can label runs without loading the schemas.

/**
 * A short human label such as `fixed:8` or `dictionary:4`; a learned dictionary adds ` gradient`, per-layer widths
 * follow as `conv1=4,fc1=2` (by name; the rest take `bits`) or `4/4/2/2/8` (a list in layer order).
 */
export function labelOf(r: { kind: 'float32' | 'fixed' | 'dictionary'; bits?: number; update?: string; bitsPerLayer?: Record<string, number> | number[] }): string {
  if (r.kind === 'float32') return 'float32';
  let label = `${r.kind}:${r.bits}`;
  if (r.update === 'gradient') label += ' gradient';
  if (r.bitsPerLayer !== undefined) {
    label += ` ${Array.isArray(r.bitsPerLayer) ? r.bitsPerLayer.join('/') : Object.entries(r.bitsPerLayer).map(([k, v]) => `${k}=${v}`).join(',')}`;
  }
  return label;
}

/** The last part of a compact-master run's series (seriesOf): `fixed/pow2/stochastic/training/compact`. */
export const COMPACT_MASTER_TAG = 'compact';

/**
 * A series id taken apart: its representation family (`fixed/pow2/stochastic`), phase and training master. The
 * report and the dashboard group and style lines with it (a compact-master line shares its family's colour).
 */
export function seriesParts(series: string): { family: string; phase: string; master: 'float32' | 'compact' } {
  const parts = series.split('/');
  const master = parts[parts.length - 1] === COMPACT_MASTER_TAG ? 'compact' : 'float32';
  if (master === 'compact') parts.pop();
  const phase = parts.pop() ?? '';
  return { family: parts.join('/'), phase, master };
}
