import type { SweepDocument } from '@quantlab/shared/schemas/sweep';

const COLUMNS = [
  'series',
  'bits',
  'runs',
  'test_accuracy_mean',
  'test_accuracy_min',
  'test_accuracy_max',
  'relative_accuracy_mean',
  'relative_accuracy_min',
  'relative_accuracy_max',
  'compact_bytes',
  'compression_ratio',
  'training_state_bytes',
  'energy_pj_per_image',
] as const;

/** RFC 4180 quoting: only fields with a comma, quote or line break are quoted. */
function field(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A sweep's summary table as CSV (one row per series and bit width), for spreadsheets and plotting scripts. */
export function summaryCsv(doc: Pick<SweepDocument, 'summary'>): string {
  const rows = doc.summary.map((r) => [
    r.series,
    r.bits,
    r.n,
    r.testAccuracy.mean,
    r.testAccuracy.min,
    r.testAccuracy.max,
    r.relativeAccuracy.mean,
    r.relativeAccuracy.min,
    r.relativeAccuracy.max,
    r.compactBytes,
    r.compressionRatio,
    r.trainingStateBytes,
    r.energyPj,
  ]);
  return [COLUMNS.join(','), ...rows.map((r) => r.map(field).join(','))].join('\r\n') + '\r\n';
}
