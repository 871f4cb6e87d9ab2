import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  FINAL_STATUSES,
  GridSweepRequest,
  IdParams,
  PageQuery,
  PresetList,
  PresetSweepRequest,
  Problem,
  SweepAccepted,
  SweepCancelResult,
  SweepDocument,
  SweepList,
  SweepPlanError,
  SweepRequest,
  countByStatus,
  newId,
  planSweep,
  presetInfo,
  summarize,
  sweepStatus,
  type RunDocument,
  type RunStatus,
  type SweepRecord,
  newRunDocument,
} from '@quantlab/shared';
import { idempotent } from '../idempotency.ts';
import { toProblem } from '../plugins/errors.ts';
import { HttpProblem } from '../problem.ts';
import { cancelRun, enqueueRuns, readRuns } from '../runs.ts';

const errors = { 400: Problem, 401: Problem, 404: Problem };

/** An issue's path; an unknown key of `vary` (one per issue) is named in it, so the answer points at the field. */
function pathOf(i: { path: PropertyKey[]; code: string; keys?: string[] }): (string | number)[] {
  const path = i.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
  return i.code === 'unrecognized_keys' && i.keys?.length === 1 ? [...path, i.keys[0]] : path;
}

const sweeps: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.ql;

  app.post(
    '/sweeps',
    {
      config: { rateLimit: {} },
      // A union's errors are unreadable; the handler re-validates against the branch the body meant.
      attachValidation: true,
      schema: {
        operationId: 'createSweep',
        summary: 'Queue a sweep',
        description:
          'Either `{name, base, vary, search, stopping}` or `{preset: "paper", budget, base, seeds}`. `vary` holds `representation` (list-valued fields expand inside their entry), `phase`, `seeds`, and any field of the experiment by its dotted path (`"training.learningRate"`, `"model"`, `"representation.bits"`) with a list of values or, when `search.kind` is `"random"`, a range `{min, max, log}`. A grid runs every combination; a random search draws `search.samples` points (seeded by `search.seed`). Each point runs once per seed. Every expanded config is validated before anything is queued; identical configs run once; a float32 baseline per distinct non-representation setting and seed runs first. `stopping` ends hopeless runs early (median rule or successive halving) on the test accuracy of each epoch; such runs end with status `stopped`.',
        tags: ['sweeps'],
        body: SweepRequest,
        response: { 202: SweepAccepted, ...errors, 413: Problem, 422: Problem, 429: Problem, 503: Problem },
      },
    },
    async (request, reply) => {
      if (request.validationError) {
        const raw = request.body as unknown;
        const branch = raw && typeof raw === 'object' && 'preset' in raw ? PresetSweepRequest : GridSweepRequest;
        const r = branch.safeParse(raw);
        if (!r.success) {
          const issues = r.error.issues.map((i) => ({ path: pathOf(i), message: i.message, code: i.code }));
          const at = issues[0].path.length ? ` at ${issues[0].path.join('.')}` : '';
          throw new HttpProblem('validation', `invalid body${at}: ${issues[0].message}`, issues);
        }
        throw toProblem(request.validationError as never);
      }
      const body = request.body;
      let plan;
      try {
        plan = planSweep(body, ctx.env.MAX_SWEEP_RUNS);
      } catch (err) {
        if (err instanceof SweepPlanError) throw new HttpProblem(err.kind === 'too-large' ? 'sweep-too-large' : 'validation', err.message, err.issues);
        throw err;
      }
      const id = newId('swp');
      const now = Date.now();
      const createdAt = new Date(now).toISOString();
      const ids = plan.runs.map(() => newId('run'));
      // A millisecond apart, in queue order, so lists (newest first) show a sweep's runs in a stable order.
      const createdAtOf = (i: number) => new Date(now + i).toISOString();
      const baselines: Record<string, string> = {};
      for (const [key, index] of plan.baselineOf) baselines[key] = ids[index];
      const docs: RunDocument[] = plan.runs.map((run, i) =>
        newRunDocument(run.config, { id: ids[i], sweepId: id, baselineId: run.isBaseline ? null : (baselines[run.baselineKey] ?? null), createdAt: createdAtOf(i), stopping: run.stopping }),
      );
      const record: SweepRecord = {
        id,
        name: plan.name,
        createdAt,
        preset: 'preset' in body ? body.preset : null,
        budget: 'preset' in body ? body.budget : null,
        request: body,
        runIds: ids,
        baselines,
      };
      const accepted = { id, runs: ids, baselines, links: { self: `/sweeps/${id}`, runs: `/experiments?sweep=${id}` } };
      reply.header('location', accepted.links.self);
      return idempotent(ctx, request, reply, 'sweeps', { status: 202, body: accepted }, async () => {
        await ctx.sweeps.create(record);
        try {
          await enqueueRuns(ctx, docs);
        } catch (err) {
          await ctx.sweeps.delete(id).catch(() => {});
          throw err;
        }
      });
    },
  );

  app.get(
    '/sweeps',
    { schema: { operationId: 'listSweeps', summary: 'List sweeps, newest first', tags: ['sweeps'], querystring: PageQuery, response: { 200: SweepList, ...errors } } },
    async (request) => {
      const page = await ctx.sweeps.listIds({ limit: request.query.limit, cursor: request.query.cursor }).catch((err: Error) => {
        throw err instanceof RangeError ? new HttpProblem('validation', err.message, [{ path: ['cursor'], message: err.message }]) : err;
      });
      const records = await ctx.sweeps.getMany(page.ids);
      const statuses = await statusesOf(records.flatMap((r) => r.runIds));
      const items = records.map(({ request: _r, ...rec }) => {
        const counts = countByStatus(rec.runIds.flatMap((rid) => (statuses.has(rid) ? [{ status: statuses.get(rid) as RunStatus }] : [])));
        return { ...rec, status: sweepStatus(counts), counts };
      });
      return { items, nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/sweeps/:id',
    {
      schema: {
        operationId: 'getSweep',
        summary: 'A sweep: its runs and the summary per series and bit width',
        description: 'relativeAccuracy = a run’s test accuracy / its seed’s float32 baseline’s, filled in when read.',
        tags: ['sweeps'],
        params: IdParams,
        response: { 200: SweepDocument, ...errors },
      },
    },
    async (request) => {
      const rec = await getSweep(request.params.id);
      const runs = await readRuns(ctx, rec.runIds);
      const counts = countByStatus(runs);
      return { id: rec.id, name: rec.name, status: sweepStatus(counts), createdAt: rec.createdAt, preset: rec.preset, budget: rec.budget, counts, baselines: rec.baselines, runs, summary: summarize(runs) };
    },
  );

  app.post(
    '/sweeps/:id/cancel',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'cancelSweep',
        summary: 'Cancel every unfinished run of a sweep',
        tags: ['sweeps'],
        params: IdParams,
        response: { 202: SweepCancelResult, ...errors },
      },
    },
    async (request, reply) => {
      const rec = await getSweep(request.params.id);
      const runs = await ctx.runs.getMany(rec.runIds);
      let cancelled = 0;
      let cancelRequested = 0;
      // Queued runs first (newest last), so a worker cannot start one while running ones are being flagged.
      for (const run of runs.filter((r) => !FINAL_STATUSES.includes(r.status))) {
        const r = await cancelRun(ctx, run);
        if (r.cancelRequested) cancelRequested++;
        else if (r.status === 'cancelled') cancelled++;
      }
      reply.code(202);
      return { id: rec.id, cancelled, cancelRequested };
    },
  );

  app.get(
    '/presets',
    { schema: { operationId: 'listPresets', summary: 'Sweep presets and their grids', tags: ['sweeps'], response: { 200: PresetList, 401: Problem } } },
    async () => ({
      items: (['full', 'small'] as const).map((budget) => presetInfo(budget, planSweep(PresetSweepRequest.parse({ preset: 'paper', budget })).runs.length)),
    }),
  );

  async function getSweep(id: string): Promise<SweepRecord> {
    const rec = await ctx.sweeps.get(id);
    if (!rec) throw new HttpProblem('not-found', `no sweep with id ${id}`);
    return rec;
  }

  async function statusesOf(ids: string[]): Promise<Map<string, RunStatus>> {
    const out = new Map<string, RunStatus>();
    if (ids.length === 0) return out;
    const p = ctx.redis.pipeline();
    for (const id of ids) p.hget(ctx.runs.keys.run(id), 'status');
    const res = (await p.exec()) ?? [];
    ids.forEach((id, i) => {
      const [err, v] = res[i] as [Error | null, string | null];
      if (!err && v) out.set(id, JSON.parse(v) as RunStatus);
    });
    return out;
  }
};

export default sweeps;
