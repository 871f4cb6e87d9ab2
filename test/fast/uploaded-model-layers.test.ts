import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentConfig, planSweep, SweepPlanError, SweepRequest } from '@quantlab/shared';

// Per-layer widths and the sensitivity preset name a built-in model's layers at submission; an upload's layers are
// known only from its stored graph, so both are refused for uploaded models with the reason (not failed on a worker).

test('bitsPerLayer on an uploaded model is refused at submission, naming the field and the reason', () => {
  const r = ExperimentConfig.safeParse({ dataset: 'mnist', model: 'mdl_abc123', representation: { kind: 'fixed', bits: 4, bitsPerLayer: [4, 2] } });
  assert.equal(r.success, false);
  const issue = r.error!.issues.find((i) => i.path.join('.') === 'representation.bitsPerLayer');
  assert.ok(issue, JSON.stringify(r.error!.issues));
  assert.match(issue.message, /mdl_abc123 is an uploaded model: give one width in bits/);
  // The same representation on a built-in model is accepted.
  assert.equal(ExperimentConfig.safeParse({ dataset: 'mnist', model: 'mlp', representation: { kind: 'fixed', bits: 4, bitsPerLayer: [4, 2] } }).success, true);
});

test('a sensitivity sweep of an uploaded model is refused as an invalid plan naming base.model', () => {
  const req = SweepRequest.parse({ preset: 'sensitivity', budget: 'small', base: { dataset: 'mnist', model: 'mdl_abc123' }, seeds: [1], widths: [2, 4] });
  assert.throws(
    () => planSweep(req),
    (e) => e instanceof SweepPlanError && e.kind === 'invalid' && /mdl_abc123 is an uploaded model/.test(e.message) && e.issues[0].path.join('.') === 'base.model',
  );
});
