import {
  AllocationError,
  ExperimentConfig,
  LIMITS,
  allocateBits,
  allocatedRepresentation,
  configIdentity,
  newRunDocument,
  sensitivityFromRuns,
  summarize,
  type AllocateAccepted,
  type RunDocument,
} from '@quantlab/shared';
import { HttpProblem } from '../problem.ts';
import type { ServiceDeps } from './deps.ts';
import { enqueueRuns, readRuns } from './experiments.ts';
import { getSweepRecord } from './sweeps.ts';

/** A planned allocation: the answer and the runs, not stored yet (the route decides idempotency first). */
export interface PlannedAllocation {
  sweepId: string;
  docs: RunDocument[];
  accepted: AllocateAccepted;
}

/**
 * POST /sweeps/:id/allocate: bits per layer from the sweep's sensitivity series (sweeps/allocate.ts) for `target`
 * relative accuracy, as one training-phase run per seed of those series, compared with that seed's baseline (a run
 * the sweep already has with that config stands for it, queued once). 400
 * when the sweep has no sensitivity series or no allocation keeps the target, 409 while its runs are unfinished.
 */
export async function planAllocation(deps: ServiceDeps, sweepId: string, target: number): Promise<PlannedAllocation> {
  const rec = await getSweepRecord(deps, sweepId);
  const runs = await readRuns(deps, rec.runIds);
  let source;
  let allocation;
  try {
    source = sensitivityFromRuns(runs, summarize(runs));
    if (source.unfinished > 0) throw new HttpProblem('conflict', `${source.unfinished} sensitivity and uniform run(s) of sweep ${sweepId} have not ended yet; allocate once they have`);
    allocation = allocateBits({ kind: source.kind, layers: source.layers, seeds: source.seeds, target, uniform: source.uniform });
  } catch (err) {
    if (err instanceof AllocationError) throw new HttpProblem('validation', err.message, [{ path: ['target'], message: err.message }]);
    throw err;
  }
  const representation = allocatedRepresentation(source, allocation);
  // A config the sweep already runs (a uniform answer is one of its uniform runs, or an earlier allocation) runs
  // once: its run is the answer, and nothing new is queued for it.
  const live = new Map(runs.filter((r) => r.status !== 'failed' && r.status !== 'cancelled').map((r) => [configIdentity(r.config), r.id]));
  const docs: RunDocument[] = [];
  const ids = source.seeds.map((seed) => {
    const like = source.configOfSeed.get(seed)!;
    const name = `${rec.name}: allocated for ${target} seed ${seed}`.slice(0, LIMITS.maxNameLength);
    const config = ExperimentConfig.parse({ ...like.config, name, phase: 'training', representation });
    const existing = live.get(configIdentity(config));
    if (existing) return existing;
    const doc = newRunDocument(config, { sweepId, baselineId: like.baselineId });
    docs.push(doc);
    return doc.id;
  });
  return {
    sweepId,
    docs,
    accepted: {
      sweepId,
      target,
      family: source.family,
      allocation,
      representation,
      runs: ids,
      queued: docs.map((d) => d.id),
      links: { sweep: `/sweeps/${sweepId}`, runs: ids.map((id) => `/experiments/${id}`) },
    },
  };
}

/** Adds the allocated runs to the sweep, then queues them; if queueing fails they leave the sweep again. */
export async function createAllocation(deps: ServiceDeps, planned: PlannedAllocation): Promise<void> {
  if (planned.docs.length === 0) return;
  const pairs = planned.docs.map((d): [string, string] => ['', d.id]);
  if ((await deps.sweeps.editRuns(planned.sweepId, pairs)) === 0) throw new HttpProblem('not-found', `no sweep with id ${planned.sweepId}`);
  try {
    await enqueueRuns(deps, planned.docs);
  } catch (err) {
    await deps.sweeps.editRuns(planned.sweepId, planned.docs.map((d): [string, string] => [d.id, ''])).catch(() => {});
    throw err;
  }
}
