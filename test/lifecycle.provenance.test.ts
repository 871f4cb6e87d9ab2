import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { canonicalJson, ExperimentConfig } from '@quantlab/shared';
import { lifecycleStack, tiny, type Stack } from './helpers/lifecycle-stack.ts';
import { quantlab } from './helpers/lifecycle-cli.ts';
import { TEST_BACKEND, TEST_BACKEND_NAME } from './helpers/backend.ts';

let s: Stack;
const dir = mkdtempSync(join(tmpdir(), 'ql-eval-'));
before(async () => {
  s = await lifecycleStack('lc-provenance');
});
after(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('every run records its provenance; two runs with the same config hash, backend and versions give the same metrics', async () => {
  const config = tiny({ name: 'twin', representation: { kind: 'fixed', bits: 6 } }, { seed: 7 });
  const a = await s.submit(config);
  const b = await s.submit(config);
  const [da, db] = [await s.waitFor(a, ['completed'], 60_000), await s.waitFor(b, ['completed'], 60_000)];
  for (const d of [da, db]) {
    const p = d.provenance;
    assert.ok(p, `run ${d.id} has provenance`);
    assert.match(p.quantlabVersion, /^\d+\.\d+\.\d+/);
    assert.match(p.gitCommit ?? '', /^[0-9a-f]{40}$/, 'the git commit of the code that trained it');
    assert.match(p.tfjsVersion, /^\d+\.\d+\.\d+$/);
    assert.equal(p.backend, TEST_BACKEND_NAME);
    assert.equal(p.backend, d.metrics.backend);
    assert.equal(p.node, process.version);
    assert.equal(p.workerId, s.worker!.id);
    assert.equal(p.workerId, d.workerId);
    assert.ok(p.host.length > 0);
    // The hash of the effective config (defaults filled in), independent of key order.
    assert.equal(p.configHash, createHash('sha256').update(canonicalJson(ExperimentConfig.parse(config))).digest('hex'));
    assert.equal(d.dataset?.name, 'mnist');
    assert.equal(d.dataset?.train, 400);
    assert.equal(d.dataset?.test, 300);
    assert.match(d.dataset?.split ?? '', /6\/7/);
    assert.match(d.dataset?.hash ?? '', /^[0-9a-f]{64}$/, 'a content hash of the images and labels used');
  }
  const [pa, pb] = [da.provenance!, db.provenance!];
  assert.deepEqual([pa.configHash, pa.backend, pa.tfjsVersion, pa.quantlabVersion, pa.gitCommit, pa.node], [pb.configHash, pb.backend, pb.tfjsVersion, pb.quantlabVersion, pb.gitCommit, pb.node]);
  assert.equal(da.dataset!.hash, db.dataset!.hash);
  assert.equal(da.metrics.testAccuracy, db.metrics.testAccuracy);
  assert.equal(da.metrics.trainLoss, db.metrics.trainLoss);
  assert.deepEqual(
    da.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.testAccuracy]),
    db.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.testAccuracy]),
  );
  assert.deepEqual(await s.app.ql.runs.getArtifact(a), await s.app.ql.runs.getArtifact(b), 'bit-identical artifacts');

  // Another seed is another config: another hash.
  const c = await s.waitFor(await s.submit({ ...config, training: { ...config.training, seed: 8 } }), ['completed'], 60_000);
  assert.notEqual(c.provenance!.configHash, pa.configHash);
});

for (const representation of [{ kind: 'fixed', bits: 4 }, { kind: 'dictionary', bits: 2, init: 'nonuniform' }] as const) {
  test(`quantlab eval on a downloaded ${representation.kind} artifact reports the run's test accuracy`, async () => {
    const id = await s.submit(tiny({ name: `eval-${representation.kind}`, representation }, { seed: 3, learningRate: 0.1, trainLimit: 600 }));
    const doc = await s.waitFor(id, ['completed'], 60_000);
    const res = await s.app.inject({ method: 'GET', url: `/experiments/${id}/artifact` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    const file = join(dir, `${id}.qlab`);
    writeFileSync(file, res.rawPayload);

    const r = await quantlab(['eval', file, '--dataset', 'mnist', '--json'], { TFJS_BACKEND: TEST_BACKEND });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { testAccuracy: number; test: number; dataset: string; model: string; backend: string };
    assert.equal(out.test, 300, "the run's own test subset (testLimit from the artifact's meta)");
    assert.equal(out.dataset, 'mnist');
    assert.equal(out.model, 'mlp');
    assert.equal(out.backend, TEST_BACKEND_NAME);
    assert.ok(doc.metrics.testAccuracy! > 0.5, `a trained model, not chance: ${doc.metrics.testAccuracy}`);
    assert.equal(out.testAccuracy, doc.metrics.testAccuracy);

    const human = await quantlab(['eval', file, '--dataset', 'mnist'], { TFJS_BACKEND: TEST_BACKEND });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`test accuracy ${(doc.metrics.testAccuracy! * 100).toFixed(2)}% on 300 mnist test images`));
  });
}

test('quantlab eval refuses what is not an artifact, and a dataset the model does not fit, in one line', async () => {
  const junk = join(dir, 'junk.qlab');
  writeFileSync(junk, 'not an artifact');
  const r = await quantlab(['eval', junk, '--dataset', 'mnist'], { TFJS_BACKEND: TEST_BACKEND });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^quantlab: artifact: .+\n$/);
  const missing = await quantlab(['eval', join(dir, 'nope.qlab')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such file/);
  const bad = await quantlab(['eval', junk, '--dataset', 'imagenet']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^quantlab: --dataset: expected mnist, .*idx:NAME.*, got "imagenet"\n$/);
});
