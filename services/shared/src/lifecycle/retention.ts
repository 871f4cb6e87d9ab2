import { FINAL_STATUSES, type RunStatus } from '../schemas/run.ts';
import type { ExperimentConfig } from '../schemas/experiment.ts';
import { deleteRun } from './delete.ts';
import type { LifecycleDeps } from './deps.ts';

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
  status: RunStatus | null;
  finishedAt: string | null;
  keep: boolean;
  sweepId: string | null;
}

/**
 * RETENTION_DAYS: removes every finished run (completed, failed, cancelled) that finished more than `days` ago, except
 * runs whose config has `keep` and the baselines that surviving runs of a sweep divide their accuracy by. A sweep left
 * with no run is removed too. Safe to run from several processes at once (deletion is idempotent).
 */
export async function applyRetention(deps: LifecycleDeps, opts: { days: number; now?: number }): Promise<RetentionResult> {
  const cutoff = (opts.now ?? Date.now()) - opts.days * DAY_MS;
  const { redis, runs } = deps;
  const old: Candidate[] = [];
  // A run finishes after it is created: only runs created before the cutoff can qualify (the index is by creation time).
  for (let offset = 0; ; offset += PAGE) {
    const ids = await redis.zrangebyscore(runs.keys.runs, '-inf', `(${cutoff}`, 'LIMIT', offset, PAGE);
    if (ids.length === 0) break;
    const p = redis.pipeline();
    for (const id of ids) p.hmget(runs.keys.run(id), 'status', 'finishedAt', 'config', 'sweepId');
    const res = (await p.exec()) ?? [];
    ids.forEach((id, i) => {
      const [err, vals] = res[i] as [Error | null, (string | null)[]];
      if (err) throw err;
      const [status, finishedAt, config, sweepId] = vals.map((v) => (v ? (JSON.parse(v) as unknown) : null));
      old.push({ id, status: status as RunStatus | null, finishedAt: finishedAt as string | null, keep: !!(config as ExperimentConfig | null)?.keep, sweepId: sweepId as string | null });
    });
    if (ids.length < PAGE) break;
  }
  const expired = old.filter((c) => c.status && FINAL_STATUSES.includes(c.status) && c.finishedAt && Date.parse(c.finishedAt) < cutoff);
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
async function baselinesOfSurvivors(deps: LifecycleDeps, expired: Set<string>): Promise<Set<string>> {
  const { redis, runs } = deps;
  const out = new Set<string>();
  if (expired.size === 0) return out;
  for (let start = 0; ; start += PAGE) {
    const ids = await redis.zrange(runs.keys.runs, start, start + PAGE - 1);
    if (ids.length === 0) break;
    const p = redis.pipeline();
    for (const id of ids) p.hmget(runs.keys.run(id), 'baselineId', 'config');
    const res = (await p.exec()) ?? [];
    ids.forEach((id, i) => {
      const [err, vals] = res[i] as [Error | null, (string | null)[]];
      if (err || !vals[0]) return;
      const baselineId = JSON.parse(vals[0]) as string | null;
      const keep = vals[1] ? !!(JSON.parse(vals[1]) as ExperimentConfig).keep : false;
      if (baselineId && (!expired.has(id) || keep)) out.add(baselineId);
    });
    if (ids.length < PAGE) break;
  }
  return out;
}

/**
 * Runs applyRetention every `everyMs` (and once at start) until stopped; errors go to `onError` and the next round
 * tries again. The timer does not keep the process alive.
 */
export function startRetention(
  deps: LifecycleDeps,
  opts: { days: number; everyMs?: number; onResult?(r: RetentionResult): void; onError?(e: Error): void },
): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  let stopped = false;
  const round = () => {
    if (running || stopped) return;
    running = applyRetention(deps, { days: opts.days })
      .then((r) => opts.onResult?.(r), (e: Error) => opts.onError?.(e))
      .finally(() => (running = null));
  };
  const timer = setInterval(round, opts.everyMs ?? 60 * 60 * 1000);
  timer.unref();
  round();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
