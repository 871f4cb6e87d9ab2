import { FINAL_STATUSES, type RunStatus } from '@quantlab/shared';
import type { ServiceDeps } from '../deps.ts';
import { deleteRun } from './delete.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const PAGE = 500;

export interface RetentionResult {
  /** Run ids removed, oldest first. */
  removed: string[];
  /** Sweeps removed because none of their runs was left. */
  removedSweeps: string[];
  /** Old finished runs kept: marked `keep`, or the float32 baseline a surviving run compares against. */
  kept: string[];
}

interface Candidate {
  id: string;
  score: number;
  finishedAt: string | null;
  keep: boolean;
  sweepId: string | null;
}

/**
 * RETENTION_DAYS: removes every finished run (completed, failed, cancelled) that finished more than `days` ago, except
 * runs whose config has `keep` and the baselines that surviving runs of a sweep divide their accuracy by. A sweep left
 * with no run is removed too. Safe to run from several processes at once (deletion is idempotent).
 */
export async function applyRetention(deps: ServiceDeps, opts: { days: number; now?: number }): Promise<RetentionResult> {
  const cutoff = (opts.now ?? Date.now()) - opts.days * DAY_MS;
  const old: Candidate[] = [];
  // A run finishes after it is created: only finished runs created before the cutoff can qualify (the status indexes
  // are scored by creation time).
  for (const status of FINAL_STATUSES) {
    for (let offset = 0; ; offset += PAGE) {
      const page = await deps.runs.idsByStatusCreatedBefore(status, cutoff, offset, PAGE);
      const fields = await deps.runs.fields(
        page.map((p) => p.id),
        ['status', 'finishedAt', 'config', 'sweepId'],
      );
      page.forEach(({ id, score }, i) => {
        const f = fields[i];
        if (f && FINAL_STATUSES.includes(f.status as RunStatus)) old.push({ id, score, finishedAt: f.finishedAt, keep: !!f.config?.keep, sweepId: f.sweepId });
      });
      if (page.length < PAGE) break;
    }
  }
  // Oldest first, as the runs index orders them (ties by id).
  old.sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const expired = old.filter((c) => c.finishedAt && Date.parse(c.finishedAt) < cutoff);
  const expiredIds = new Set(expired.map((c) => c.id));
  const protectedBaselines = await baselinesOfSurvivors(deps, expiredIds);
  const kept: string[] = [];
  const removed: string[] = [];
  const sweeps = new Set<string>();
  for (const c of expired) {
    if (c.keep || protectedBaselines.has(c.id)) {
      kept.push(c.id);
      continue;
    }
    if (await deleteRun(deps, c.id, { graceMs: 0 })) removed.push(c.id);
    if (c.sweepId) sweeps.add(c.sweepId);
  }
  const removedSweeps: string[] = [];
  for (const s of sweeps) {
    const rec = await deps.sweeps.get(s);
    if (rec && rec.runIds.length === 0) {
      await deps.sweeps.delete(s);
      removedSweeps.push(s);
    }
  }
  return { removed, removedSweeps, kept };
}

/** Baselines referenced by runs that stay (not expired, or expired but kept), so their relative accuracy survives. */
async function baselinesOfSurvivors(deps: ServiceDeps, expired: Set<string>): Promise<Set<string>> {
  const out = new Set<string>();
  if (expired.size === 0) return out;
  for (let start = 0; ; start += PAGE) {
    const ids = await deps.runs.idsPage(start, PAGE);
    const fields = await deps.runs.fields(ids, ['baselineId', 'config']);
    ids.forEach((id, i) => {
      const f = fields[i];
      if (f?.baselineId && (!expired.has(id) || f.config?.keep)) out.add(f.baselineId);
    });
    if (ids.length < PAGE) break;
  }
  return out;
}
