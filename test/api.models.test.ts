// POST/GET/DELETE /models on the real Redis: both upload forms, the stored record and weights, runs that use a model
// (422 at submission when it does not fit the dataset, 409 deleting it while they wait), every bad upload refused
// with its status and nothing stored, and MODEL_MAX_BYTES exactly at the limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { PROBLEM_BASE, ModelSummary, ModelStore } from '@quantlab/shared';
import { importLayersModel, checkModelJson } from '@quantlab/shared/models/tfjs-layers';
import { buildApp } from '@quantlab/api';
import { initBackend } from '@quantlab/ml';
import { keysUnder, testEnv } from './helpers/redis.ts';
import { residualModel, saveLayersModel, type SavedLayersModel } from './helpers/layers-model.ts';

const env = testEnv('api-models');
let app: FastifyInstance;
let url: string;
let saved: SavedLayersModel;
const modelKeys = async (prefix = env.KEY_PREFIX) => (await keysUnder(prefix)).filter((k) => k.includes(':model')).sort();

before(async () => {
  await initBackend('wasm');
  const source = residualModel(5);
  saved = await saveLayersModel(source, 2);
  source.dispose();
  app = await buildApp({ env, logger: false });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await app.close();
  await env.cleanup();
});

/** The multipart form: model.json as a file part, each shard as a file part named as in the manifest. */
function form(s: SavedLayersModel, edit: { json?: string; files?: Map<string, Uint8Array>; name?: string } = {}): FormData {
  const f = new FormData();
  if (edit.name) f.append('name', edit.name);
  f.append('model.json', new Blob([edit.json ?? JSON.stringify(s.modelJson)], { type: 'application/json' }), 'model.json');
  for (const [file, bytes] of edit.files ?? s.files) f.append('weights', new Blob([bytes as Uint8Array<ArrayBuffer>]), file);
  return f;
}
const post = (body: FormData | object) =>
  fetch(`${url}/models`, body instanceof FormData ? { method: 'POST', body } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const jsonBody = (s: SavedLayersModel, over: object = {}) => ({ name: 'json-form', modelJson: s.modelJson, weights: Buffer.from(s.weights).toString('base64'), ...over });

test('multipart upload: 201 with the summary; GET, the list and the stored weights agree; the JSON form stores the same model', async () => {
  const res = await post(form(saved, { name: 'residual' }));
  assert.equal(res.status, 201);
  const m = ModelSummary.parse(await res.json());
  assert.match(m.id, /^mdl_[a-z0-9]+$/);
  assert.equal(res.headers.get('location'), `/models/${m.id}`);
  const jsonText = JSON.stringify(saved.modelJson);
  assert.deepEqual(
    { ...m, id: '', createdAt: '' },
    { id: '', createdAt: '', name: 'residual', layers: 9, params: 72 + 8 + 576 + 8 + 3920 + 10, inputShape: [28, 28, 1], classes: 10, outputActivation: 'softmax', folded: ['bn1', 'bn2'], bytes: Buffer.byteLength(jsonText) + saved.weights.length },
  );
  assert.deepEqual(await (await fetch(`${url}/models/${m.id}`)).json(), m);
  const list = (await (await fetch(`${url}/models`)).json()) as { items: ModelSummary[]; nextCursor: string | null };
  assert.deepEqual(list, { items: [m], nextCursor: null });
  const store = new ModelStore(app.ql.redis, env.KEY_PREFIX);
  const loaded = (await store.load(m.id))!;
  const want = importLayersModel(checkModelJson(structuredClone(saved.modelJson)), { files: saved.files });
  assert.deepEqual(loaded.record.graph, want.graph);
  assert.deepEqual(loaded.record.paramSpecs, want.params);
  loaded.weights.forEach((w, i) => assert.deepEqual(w, want.weights[i]));

  const viaJson = await post(jsonBody(saved));
  assert.equal(viaJson.status, 201);
  const j = ModelSummary.parse(await viaJson.json());
  assert.equal(j.name, 'json-form');
  assert.equal(j.params, m.params);
  (await store.load(j.id))!.weights.forEach((w, i) => assert.deepEqual(w, want.weights[i]));
  // Pages of one, newest first.
  const p1 = (await (await fetch(`${url}/models?limit=1`)).json()) as { items: ModelSummary[]; nextCursor: string };
  assert.deepEqual(p1.items.map((x) => x.id), [j.id]);
  const p2 = (await (await fetch(`${url}/models?limit=1&cursor=${p1.nextCursor}`)).json()) as { items: ModelSummary[]; nextCursor: string | null };
  assert.deepEqual([p2.items.map((x) => x.id), p2.nextCursor], [[m.id], null]);
  for (const id of [m.id, j.id]) assert.equal((await fetch(`${url}/models/${id}`, { method: 'DELETE' })).status, 204);
  assert.deepEqual(await modelKeys(), [], 'deleting removes the record, the weights and the index entry');
});

test('experiments use a model by id: 422 when it does not fit the dataset, 409 deleting it while a run waits', async () => {
  const m = ModelSummary.parse(await (await post(form(saved))).json());
  const submit = (body: object) => fetch(`${url}/experiments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const bad = await submit({ dataset: 'cifar10', model: m.id });
  assert.equal(bad.status, 422);
  assert.match(bad.headers.get('content-type')!, /^application\/problem\+json/);
  const p = (await bad.json()) as { type: string; detail: string };
  assert.equal(p.type, `${PROBLEM_BASE}model-invalid`);
  assert.equal(p.detail, `model ${m.id} takes inputs of shape [28, 28, 1]; dataset cifar10 has images of shape [32, 32, 3]`);
  assert.equal((await submit({ dataset: 'mnist', model: 'mdl_missing0' })).status, 422);
  const ok = await submit({ dataset: 'mnist', model: m.id, representation: { kind: 'fixed', bits: 8 } });
  assert.equal(ok.status, 202);
  const run = (await ok.json()) as { id: string };
  const doc = (await (await fetch(`${url}/experiments/${run.id}`)).json()) as { config: { model: string; init?: string } };
  assert.equal(doc.config.model, m.id);
  assert.equal(doc.config.init, undefined, 'the default (pretrained) is not written out');
  const refused = await fetch(`${url}/models/${m.id}`, { method: 'DELETE' });
  assert.equal(refused.status, 409);
  assert.match(((await refused.json()) as { detail: string }).detail, new RegExp(`used by 1 queued or running run\\(s\\) \\(${run.id}\\)`));
  assert.equal((await fetch(`${url}/experiments/${run.id}/cancel`, { method: 'POST' })).status, 200);
  assert.equal((await fetch(`${url}/models/${m.id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await fetch(`${url}/models/${m.id}`)).status, 404);
  assert.equal((await fetch(`${url}/models/${m.id}`, { method: 'DELETE' })).status, 404);
  // A sweep on it is checked the same way, before anything is stored.
  const sweep = await fetch(`${url}/sweeps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ base: { dataset: 'mnist', model: m.id }, vary: { representation: [{ kind: 'fixed', bits: [4] }] } }) });
  assert.equal(sweep.status, 422);
  assert.equal(((await (await fetch(`${url}/sweeps`)).json()) as { items: unknown[] }).items.length, 0);
});

test('bad uploads: the status and what is wrong; a refused upload leaves no key behind', async () => {
  const before = await modelKeys();
  const shards = [...saved.files.keys()];
  const layersOf = (j: SavedLayersModel['modelJson']) => (j.modelTopology as { config: { layers: { name: string; class_name: string }[] } }).config.layers;
  const unsupported = structuredClone(saved.modelJson);
  layersOf(unsupported).find((l) => l.name === 'relu2')!.class_name = 'PReLU';
  const nan = new Map(saved.files);
  const first = saved.files.get(shards[0])!.slice();
  new DataView(first.buffer).setFloat32(0, NaN, true);
  nan.set(shards[0], first);
  const cases: [string, FormData | object, number, RegExp][] = [
    ['model.json not JSON', form(saved, { json: '{"modelTopology":' }), 400, /^model.json is not JSON/],
    ['a shard missing', form(saved, { files: new Map([[shards[0], saved.files.get(shards[0])!]]) }), 400, new RegExp(`shard "${shards[1]}" \\(weightsManifest\\[0\\]\\.paths\\) is missing`)],
    ['a shard cut short', form(saved, { files: new Map([[shards[0], saved.files.get(shards[0])!], [shards[1], saved.files.get(shards[1])!.subarray(8)]]) }), 400, /have \d+ bytes; weightsManifest\[0\] describes \d+/],
    ['no model.json part', (() => { const f = new FormData(); f.append('weights', new Blob([new Uint8Array(4)]), 'w.bin'); return f; })(), 400, /no part named model.json/],
    ['an unsupported layer', form(saved, { json: JSON.stringify(unsupported) }), 422, /^layer relu2 has class PReLU, which is not supported/],
    ['a NaN weight', form(saved, { files: nan }), 422, /^weight conv1\/kernel holds NaN at element 0/],
    ['JSON form: weights not base64', jsonBody(saved, { weights: 'not base64!' }), 400, /^weights is not base64/],
    ['JSON form: weights too short', jsonBody(saved, { weights: Buffer.from(saved.weights.subarray(4)).toString('base64') }), 400, /^the weights have \d+ bytes; the manifest's shards .* describe \d+$/],
    ['JSON form: no modelJson', { weights: '' }, 400, /modelJson/],
  ];
  for (const [what, body, status, detail] of cases) {
    const res = await post(body);
    assert.equal(res.status, status, what);
    assert.match(res.headers.get('content-type')!, /^application\/problem\+json/, what);
    assert.match(((await res.json()) as { detail: string }).detail, detail, what);
  }
  assert.deepEqual(await modelKeys(), before, 'nothing stored');
});

test('MODEL_MAX_BYTES: a body of exactly the limit is accepted, one byte more is 413 and stores nothing (both forms)', async () => {
  const body = JSON.stringify(jsonBody(saved));
  const length = Buffer.byteLength(body);
  const f = form(saved);
  const multipart = new Request('http://x/', { method: 'POST', body: f });
  const multipartBytes = new Uint8Array(await multipart.arrayBuffer());
  const contentType = multipart.headers.get('content-type')!;
  const requests = {
    json: { headers: { 'content-type': 'application/json' }, payload: body, size: length },
    multipart: { headers: { 'content-type': contentType }, payload: Buffer.from(multipartBytes), size: multipartBytes.length },
  };
  for (const [kind, r] of Object.entries(requests)) {
    for (const [limit, status] of [
      [r.size, 201],
      [r.size - 1, 413],
    ] as const) {
      const limited = testEnv('api-models-limit', { MODEL_MAX_BYTES: String(limit) });
      const small = await buildApp({ env: limited, logger: false });
      try {
        const res = await small.inject({ method: 'POST', url: '/models', headers: r.headers, payload: r.payload });
        assert.equal(res.statusCode, status, `${kind} body of ${r.size} bytes, MODEL_MAX_BYTES ${limit}`);
        if (status === 413) assert.equal(res.json().type, `${PROBLEM_BASE}payload-too-large`);
        assert.equal((await modelKeys(limited.KEY_PREFIX)).length, status === 201 ? 3 : 0, 'record, weights and index, or nothing');
      } finally {
        await small.close();
        await limited.cleanup();
      }
    }
  }
});
