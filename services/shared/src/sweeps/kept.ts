/**
 * When a bit width "keeps" an accuracy level. One judgement of a point (keptLevel) and two questions asked of a series:
 * - narrowestKeeping: the report's "fewest bits", a claim about the curve (from N bits on, every width keeps it);
 * - narrowestPassing: the allocator's best uniform width, a claim about one configuration (this width, measured or
 *   predicted, keeps it), which a noisy wider width must not veto.
 * They differ exactly when a wider width misses the level that a narrower one keeps; the report shows both.
 */
import type { Stat } from '../schemas/sweep.ts';

/** What a point is judged on: the lower end of its 95% interval over seeds, or its mean with one seed. */
export function keptLevel(stat: Stat | null | undefined): number | null {
  if (!stat || stat.mean === null) return null;
  return stat.ci95 ? stat.ci95.low : stat.mean;
}

/**
 * The narrowest width from which on every width given keeps at least `target` (a width whose level is null — not
 * measured — breaks the run like a miss). Widths above the narrowest passing one must all pass: a dip at 6 bits
 * between good 5 and 8 bits says the curve is noise there, and "fewest bits" must not land below the dip.
 */
export function narrowestKeeping(points: readonly { width: number; level: number | null }[], target: number): number | null {
  let best: number | null = null;
  for (const p of [...points].sort((a, b) => b.width - a.width)) {
    if ((p.level ?? -Infinity) >= target) best = p.width;
    else break;
  }
  return best;
}

/** The narrowest width whose own level keeps at least `target`, whatever the wider widths did. */
export function narrowestPassing(points: readonly { width: number; level: number | null }[], target: number): number | null {
  const passing = points.filter((p) => (p.level ?? -Infinity) >= target).map((p) => p.width);
  return passing.length ? Math.min(...passing) : null;
}
