import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentConfig } from '@quantlab/shared';

const config = (representation: unknown) => ExperimentConfig.safeParse({ dataset: 'mnist', representation });

function refused(representation: unknown, message: RegExp) {
  const r = config(representation);
  assert.equal(r.success, false, `${JSON.stringify(representation)} was accepted`);
  const text = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  assert.match(text, message, `${JSON.stringify(representation)}: ${text}`);
}

test('invalid representations are refused with a clear message (issue 3, point 8)', () => {
  refused({ kind: 'fixed', bits: 0 }, /bits must be 2\.\.16 \(or 32/);
  refused({ kind: 'fixed', bits: 33 }, /bits must be 2\.\.16 \(or 32/);
  refused({ kind: 'fixed', bits: 17 }, /bits must be 2\.\.16/);
  refused({ kind: 'dictionary', bits: 20 }, /at most 2\^10 entries/);
  refused({ kind: 'dictionary', bits: 0 }, /bits must be at least 1/);
  refused({ kind: 'dictionary', bits: 4, init: 'gaussian' }, /init/);
  refused({ kind: 'fixed', bits: 8, fractionBits: 4 }, /fractionBits is only allowed with range "pow2"/);
  refused({ kind: 'fixed', bits: 8, range: 'maxabs', fractionBits: 4 }, /fractionBits is only allowed with range "pow2"/);
  refused({ kind: 'fixed', bits: 8, rounding: 'up' }, /rounding/);
  refused({ kind: 'dictionary', bits: 4, refine: 21 }, /refine/);
  refused({ kind: 'int8' }, /kind/);
  refused({ kind: 'fixed', bits: 32, range: 'mse' }, /range "mse" takes bits 2..16/);
  refused({ kind: 'fixed', bits: 8, range: 'pow2', fractionBits: 4, granularity: 'channel' }, /granularity "channel" does not apply/);
  refused({ kind: 'dictionary', bits: 4, granularity: 'row' }, /granularity/);
});

test('valid representations are accepted with their defaults filled in', () => {
  assert.deepEqual(config({ kind: 'fixed', bits: 32 }).data?.representation, { kind: 'fixed', bits: 32, range: 'maxabs', rounding: 'nearest', granularity: 'layer' });
  assert.deepEqual(config({ kind: 'fixed', bits: 4, range: 'pow2', fractionBits: 10 }).data?.representation, {
    kind: 'fixed',
    bits: 4,
    range: 'pow2',
    fractionBits: 10,
    rounding: 'nearest',
    granularity: 'layer',
  });
  assert.deepEqual(config({ kind: 'fixed', bits: 6, range: 'mse', granularity: 'channel' }).data?.representation, {
    kind: 'fixed',
    bits: 6,
    range: 'mse',
    rounding: 'nearest',
    granularity: 'channel',
  });
  assert.deepEqual(config({ kind: 'dictionary', bits: 10 }).data?.representation, {
    kind: 'dictionary',
    bits: 10,
    scope: 'global',
    init: 'uniform',
    refine: 0,
    refitEvery: 'epoch',
    granularity: 'layer',
    update: 'refit',
  });
  assert.equal(config(undefined).data?.representation.kind, 'float32');
});
