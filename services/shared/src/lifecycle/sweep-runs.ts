import type { SweepRecord } from '../schemas/sweep.ts';
import type { LifecycleDeps } from './deps.ts';

/**
 * Every run that belongs to a sweep: the ones it lists, plus the earlier attempts a retry replaced in that list
 * (found by following retryOf; they carry the sweep's id too).
 */
export async function sweepRunIds(deps: LifecycleDeps, rec: SweepRecord): Promise<string[]> {
  const ids = new Set(rec.runIds);
  let frontier = [...ids];
  while (frontier.length) {
    const docs = await deps.runs.getMany(frontier);
    const earlier = await deps.runs.getMany(docs.map((d) => d.retryOf).filter((r): r is string => !!r && !ids.has(r)));
    frontier = earlier.filter((d) => d.sweepId === rec.id).map((d) => d.id);
    for (const f of frontier) ids.add(f);
  }
  return [...ids];
}
