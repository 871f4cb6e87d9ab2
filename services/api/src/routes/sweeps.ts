import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  AllocateAccepted,
  AllocateRequest,
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
  SweepRequest,
} from '@quantlab/shared';
import { idempotent } from '../idempotency.ts';
import { toProblem } from '../plugins/errors.ts';
import { HttpProblem } from '../problem.ts';
import { createAllocation, planAllocation } from '../services/allocate.ts';
import { cancelSweep, createSweep, listPresets, listSweeps, planSweepRuns, readSweep, readSweepJson } from '../services/sweeps.ts';
import { JSON_TYPE } from './experiments.ts';

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
        response: { 202: SweepAccepted, ...errors, 409: Problem, 413: Problem, 422: Problem, 429: Problem, 503: Problem, 507: Problem },
      },
    },
    async (request, reply) => {
      if (request.validationError) {
        const raw = request.body as unknown;
        const branch = raw && typeof raw === 'object' && 'preset' in raw ? PresetSweepRequest : GridSweepRequest;
        const r = branch.safeParse(raw);
        if (!r.success) {
          const issues = r.error.issues.slice(0, 20).map((i) => ({ path: pathOf(i), message: i.message, code: i.code }));
          const at = issues[0].path.length ? ` at ${issues[0].path.join('.')}` : '';
          throw new HttpProblem('validation', `invalid body${at}: ${issues[0].message}`, issues);
        }
        throw toProblem(request.validationError as never);
      }
      const planned = planSweepRuns(request.body, ctx.env.MAX_SWEEP_RUNS);
      const { accepted } = planned;
      const out = await idempotent(ctx, request, reply, 'sweeps', { status: 202, body: accepted }, () => createSweep(ctx, planned));
      // From the answer sent (a replay names the sweep the first request created).
      reply.header('location', out.links.self);
      return out;
    },
  );

  app.get(
    '/sweeps',
    { schema: { operationId: 'listSweeps', summary: 'List sweeps, newest first', tags: ['sweeps'], querystring: PageQuery, response: { 200: SweepList, ...errors } } },
    async (request) => listSweeps(ctx, request.query),
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
    async (request, reply) => (ctx.rawReads ? reply.type(JSON_TYPE).send((await readSweepJson(ctx, request.params.id)) as never) : readSweep(ctx, request.params.id)),
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
      const r = await cancelSweep(ctx, request.params.id);
      reply.code(202);
      return r;
    },
  );

  app.post(
    '/sweeps/:id/allocate',
    {
      config: { rateLimit: {} },
      schema: {
        operationId: 'allocateSweep',
        summary: 'Allocate bits per layer from a sensitivity sweep and queue the allocated runs',
        description:
          'For a sweep made with `{"preset": "sensitivity"}`: chooses a width per layer that keeps `target` relative accuracy (a fraction of the float32 baseline; 0 < target ≤ 1.05) on the lower end of the 95% interval over seeds, predicted by adding the losses of the one-layer runs, with the fewest weight bytes (greedy; never more than the best uniform width: the narrowest that keeps the target on its own runs, or predicted where not measured). Queues one training-phase run per seed with those widths (`bitsPerLayer`), added to the sweep, and answers 202 with them. 400 when the sweep has no sensitivity series or no allocation keeps the target; 409 while its sensitivity or uniform runs are unfinished.',
        tags: ['sweeps'],
        params: IdParams,
        body: AllocateRequest,
        response: { 202: AllocateAccepted, ...errors, 409: Problem, 422: Problem, 429: Problem, 503: Problem, 507: Problem },
      },
    },
    async (request, reply) => {
      const planned = await planAllocation(ctx, request.params.id, request.body.target);
      const out = await idempotent(ctx, request, reply, `allocate:${request.params.id}`, { status: 202, body: planned.accepted }, () => createAllocation(ctx, planned));
      reply.header('location', out.links.sweep);
      return out;
    },
  );

  app.get(
    '/presets',
    { schema: { operationId: 'listPresets', summary: 'Sweep presets and their grids', tags: ['sweeps'], response: { 200: PresetList, 401: Problem } } },
    async () => listPresets(),
  );

};

export default sweeps;
