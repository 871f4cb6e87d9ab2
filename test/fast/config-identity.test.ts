import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, configHash, configIdentity, configIdentityHash, ExperimentConfig, planSweep, RESULT_NEUTRAL_FIELDS, SweepRequest } from '@quantlab/shared';

const base = ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', training: { epochs: 2, seed: 3 } });

test('canonical JSON sorts keys at every depth and drops undefined members', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: undefined, x: 'x' }], c: null } }), '{"a":{"c":null,"d":[1,{"x":"x","z":0}]},"b":1}');
  assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
});

test('the result-neutral fields, and only those, leave a config’s identity unchanged', () => {
  assert.deepEqual([...RESULT_NEUTRAL_FIELDS], ['name', 'priority', 'keep', 'training.maxMinutes']);
  const neutral = ExperimentConfig.parse({ ...base, name: 'other', priority: 3, keep: true, training: { ...base.training, maxMinutes: 5 } });
  assert.equal(configIdentity(neutral), configIdentity(base));
  assert.equal(configIdentityHash(neutral), configIdentityHash(base));
  assert.notEqual(configHash(neutral), configHash(base), 'provenance hashes the whole config');
  for (const changed of [
    { ...base, training: { ...base.training, seed: 4 } },
    { ...base, quantizeBiases: true },
    { ...base, representation: { kind: 'fixed', bits: 8 } },
    { ...base, phase: 'inference' },
    { ...base, training: { ...base.training, trainLimit: 100 } },
  ]) {
    assert.notEqual(configIdentity(ExperimentConfig.parse(changed)), configIdentity(base), JSON.stringify(changed));
  }
  assert.ok(!configIdentity(neutral).includes('maxMinutes'));
});

test('a sweep runs configs of the same identity once', () => {
  const plan = planSweep(SweepRequest.parse({ name: 's', base: { dataset: 'mnist', model: 'mlp' }, vary: { representation: [{ kind: 'fixed', bits: [4, 4, 8] }] } }));
  const ids = plan.runs.map((r) => configIdentity(r.config));
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(plan.runs.filter((r) => !r.isBaseline).length, 2);
});

test('dictionary.update: refit (the default) keeps the identity a config had before the field existed; gradient is other work', () => {
  const refit = ExperimentConfig.parse({ ...base, representation: { kind: 'dictionary', bits: 2 } });
  assert.equal(refit.representation.kind === 'dictionary' && refit.representation.update, 'refit');
  // The identity a stored config had before `update` existed: its representation without the field.
  const before = JSON.parse(canonicalJson(refit)) as Record<string, Record<string, unknown>>;
  delete before.representation.update;
  assert.equal(configIdentity(refit), configIdentity(before as never));
  assert.doesNotMatch(configIdentity(refit), /update/);
  const gradient = ExperimentConfig.parse({ ...base, representation: { kind: 'dictionary', bits: 2, update: 'gradient' } });
  assert.notEqual(configIdentity(gradient), configIdentity(refit));
  assert.match(configIdentity(gradient), /"update":"gradient"/);
});

test('training.master at its default leaves the identity as it was before the field existed; compact is other work', () => {
  const fixed = ExperimentConfig.parse({ ...base, representation: { kind: 'fixed', bits: 8, rounding: 'stochastic' } });
  assert.equal(fixed.training.master, 'float32');
  // The identity (and so the checkpoint key) of a float32-master config has no master in it: runs stored before the
  // field existed resume and dedup as before.
  assert.ok(!configIdentity(fixed).includes('master'));
  const { master: _m, ...older } = fixed.training;
  assert.equal(configIdentity(fixed), canonicalJson({ ...fixed, name: undefined, priority: undefined, keep: undefined, training: { ...older, maxMinutes: undefined } }));
  const compact = ExperimentConfig.parse({ ...fixed, training: { ...fixed.training, master: 'compact' } });
  assert.notEqual(configIdentity(compact), configIdentity(fixed));
  assert.match(configIdentity(compact), /"master":"compact"/);
});

test('the model, an uploaded one included, is part of the identity; init only when it differs from the model’s default', () => {
  const uploaded = ExperimentConfig.parse({ ...base, model: 'mdl_abc123' });
  const other = ExperimentConfig.parse({ ...base, model: 'mdl_abc124' });
  assert.notEqual(configIdentity(uploaded), configIdentity(base));
  assert.notEqual(configIdentity(uploaded), configIdentity(other));
  // Spelled-out defaults are the same work: pretrained for uploaded models, random for the built-ins.
  assert.equal(configIdentity(ExperimentConfig.parse({ ...uploaded, init: 'pretrained' })), configIdentity(uploaded));
  assert.equal(configIdentity(ExperimentConfig.parse({ ...base, init: 'random' })), configIdentity(base));
  assert.notEqual(configIdentity(ExperimentConfig.parse({ ...uploaded, init: 'random' })), configIdentity(uploaded));
  // A built-in config's identity is what it was before the field existed (checkpoints and sweeps keep matching).
  // (training.master at its default is left out as well: it came after `init`.)
  const { master: _m, ...training } = base.training;
  assert.equal(configIdentity(base), canonicalJson(JSON.parse(JSON.stringify({ ...base, name: undefined, priority: undefined, keep: undefined, training }))));
  assert.equal(ExperimentConfig.safeParse({ ...base, model: 'mdl_' }).success, false);
  assert.equal(ExperimentConfig.safeParse({ ...base, model: 'mdl_ABC' }).success, false);
});
