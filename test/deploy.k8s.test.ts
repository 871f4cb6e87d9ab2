// Issue 21: the Kubernetes manifests. `kubectl kustomize` renders each overlay offline, and every rendered object is
// validated against its schema: Kubernetes' own (kubernetes-models) and KEDA's CRD (@kubernetes-models/keda).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as batch from 'kubernetes-models/batch/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Env } from '@quantlab/shared';

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: Record<string, any> };
type Model = new (data: any) => { validate(): void };

const MODELS: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'batch/v1': batch,
  'networking.k8s.io/v1': networking,
  'keda.sh/v1alpha1': keda,
};

function modelOf(o: K8sObject): Model {
  const model = MODELS[o.apiVersion]?.[o.kind];
  assert.equal(typeof model, 'function', `no schema for ${o.apiVersion} ${o.kind}`);
  return model as Model;
}

/** Throws, naming the object, when it does not match its schema. */
function validate(o: K8sObject): void {
  const Model = modelOf(o);
  try {
    new Model(o).validate();
  } catch (e) {
    throw new Error(`${o.kind}/${o.metadata.name}: ${(e as Error).message}`);
  }
}

function parse(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS() as K8sObject;
  });
}

function render(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  assert.equal(r.error, undefined, 'kubectl is not installed');
  assert.equal(r.status, 0, r.stderr);
  return parse(r.stdout);
}

const find = (objs: K8sObject[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name.startsWith(name));
  assert.ok(o, `${kind}/${name} is rendered`);
  return o;
};

const envOf = (container: any, name: string) => container.env?.find((e: { name: string }) => e.name === name);

function checkCommon(objs: K8sObject[]): void {
  for (const o of objs) validate(o);
  for (const o of objs) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'quantlab', `${o.kind}/${o.metadata.name} namespace`);

  const config = find(objs, 'ConfigMap', 'quantlab-config') as unknown as { data: Record<string, string> };
  assert.equal(config.data.RATE_LIMIT_READ_MAX, '1200', 'reads are rate-limited (issue 14)');
  // The ConfigMap's values are valid quantlab settings (the config schema parses them).
  const env = Env.parse(config.data);
  const worker = find(objs, 'Deployment', 'quantlab-worker');
  const pod = worker.spec!.template.spec;
  const c = pod.containers[0];
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > env.SHUTDOWN_TIMEOUT_MS + 5_000, 'grace period above SHUTDOWN_TIMEOUT_MS and the 5 s backstop');
  assert.equal(c.resources.requests.cpu, '1');
  assert.equal(envOf(c, 'WORKER_CONCURRENCY').value, '1');
  assert.deepEqual(c.volumeMounts, [{ name: 'datasets', mountPath: env.DATA_DIR, readOnly: true }]);
  assert.equal(pod.volumes[0].persistentVolumeClaim.claimName, 'quantlab-datasets');
  find(objs, 'PersistentVolumeClaim', 'quantlab-datasets');
  assert.equal(envOf(c, 'METRICS_PORT').value, worker.spec!.template.metadata.annotations['prometheus.io/port']);
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(worker.spec!.replicas, undefined, 'KEDA owns the worker count');

  const api = find(objs, 'Deployment', 'quantlab-api');
  const a = api.spec!.template.spec.containers[0];
  assert.equal(a.readinessProbe.httpGet.path, '/healthz');
  assert.equal(a.livenessProbe.httpGet.path, '/healthz');
  assert.equal(envOf(a, 'API_TOKEN').valueFrom.secretKeyRef.key, 'API_TOKEN');
  const svc = find(objs, 'Service', 'quantlab-api');
  assert.deepEqual(svc.spec!.selector, api.spec!.selector.matchLabels);

  const so = find(objs, 'ScaledObject', 'quantlab-worker');
  assert.equal(so.spec!.scaleTargetRef.name, worker.metadata.name);
  assert.equal(so.spec!.minReplicaCount, 0);
  assert.ok(so.spec!.maxReplicaCount >= 2);
}

test('the trial overlay renders and every object matches its Kubernetes or KEDA schema', () => {
  const objs = render('deploy/k8s/overlays/trial');
  checkCommon(objs);
  assert.deepEqual(objs.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'Deployment', 'Namespace', 'PersistentVolumeClaim', 'ScaledObject', 'Secret', 'Service', 'Service', 'StatefulSet']);
  // The token's Secret is generated (name with a content hash) and the API refers to that name.
  const secret = find(objs, 'Secret', 'quantlab-api-token') as unknown as { metadata: { name: string }; data: Record<string, string> };
  assert.ok(Buffer.from(secret.data.API_TOKEN, 'base64').length >= 8);
  const api = find(objs, 'Deployment', 'quantlab-api');
  assert.equal(envOf(api.spec!.template.spec.containers[0], 'API_TOKEN').valueFrom.secretKeyRef.name, secret.metadata.name);
  // Redis: AOF on a persistent volume, noeviction, the URL the config names.
  const redis = find(objs, 'StatefulSet', 'quantlab-redis');
  const args: string[] = redis.spec!.template.spec.containers[0].args;
  assert.equal(args[args.indexOf('--appendonly') + 1], 'yes');
  assert.equal(args[args.indexOf('--maxmemory-policy') + 1], 'noeviction');
  assert.equal(args[args.indexOf('--maxmemory') + 1], '384mb');
  assert.equal(redis.spec!.volumeClaimTemplates[0].spec.resources.requests.storage, '2Gi');
  assert.equal(redis.spec!.template.spec.containers[0].volumeMounts[0].mountPath, args[args.indexOf('--dir') + 1]);
  // KEDA: the metrics-api scaler on the API's open /healthz, at the Service's in-cluster name.
  const so = find(objs, 'ScaledObject', 'quantlab-worker');
  assert.equal(so.spec!.maxReplicaCount, 2);
  const [trigger] = so.spec!.triggers;
  assert.equal(trigger.type, 'metrics-api');
  assert.equal(trigger.metadata.url, 'http://quantlab-api.quantlab.svc.cluster.local:3000/healthz');
  assert.equal(trigger.metadata.valueLocation, 'queue.slotsWanted');
  assert.equal(api.spec!.template.spec.containers[0].image, 'quantlab:local');
});

test('the cluster overlay renders: an Ingress, two API replicas, workers 0..50, a ReadWriteMany datasets volume; the token Secret is not in git', () => {
  const objs = render('deploy/k8s/overlays/cluster');
  checkCommon(objs);
  assert.equal(objs.some((o) => o.kind === 'Secret'), false);
  const ingress = find(objs, 'Ingress', 'quantlab-api');
  assert.equal(ingress.spec!.rules[0].http.paths[0].backend.service.name, 'quantlab-api');
  assert.equal(find(objs, 'Deployment', 'quantlab-api').spec!.replicas, 2);
  assert.equal(find(objs, 'ScaledObject', 'quantlab-worker').spec!.maxReplicaCount, 50);
  assert.deepEqual(find(objs, 'PersistentVolumeClaim', 'quantlab-datasets').spec!.accessModes, ['ReadWriteMany']);
  assert.equal(find(objs, 'Deployment', 'quantlab-worker').spec!.template.spec.containers[0].image, 'registry.example.com/quantlab:0.1.0');
});

test('the components: an external Redis by URL from a Secret (no StatefulSet), and the Prometheus scaler', () => {
  {
    // kustomize loads only from below a kustomization's folder: a temporary one inside deploy/k8s combines them.
    const root = resolve('deploy/k8s');
    const local = mkdtempSync(join(root, '.test-'));
    try {
      const rel = (p: string) => relative(local, join(root, p));
      writeFileSync(
        join(local, 'kustomization.yaml'),
        `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${rel('overlays/cluster')}\ncomponents:\n  - ${rel('components/external-redis')}\n  - ${rel('components/prometheus-scaler')}\n`,
      );
      const objs = render(local);
      for (const o of objs) validate(o);
      assert.equal(objs.some((o) => o.kind === 'StatefulSet' || o.metadata.name === 'quantlab-redis'), false);
      for (const name of ['quantlab-api', 'quantlab-worker']) {
        const ref = envOf(find(objs, 'Deployment', name).spec!.template.spec.containers[0], 'REDIS_URL').valueFrom.secretKeyRef;
        assert.deepEqual(ref, { name: 'quantlab-redis', key: 'REDIS_URL' });
      }
      const [trigger] = find(objs, 'ScaledObject', 'quantlab-worker').spec!.triggers;
      assert.equal(trigger.type, 'prometheus');
      assert.match(trigger.metadata.query, /quantlab_worker_slots_wanted/);
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  }
});

test('the datasets Job is valid; the validator rejects objects that break their schema', () => {
  const [job] = parse(readFileSync('deploy/k8s/tools/fill-datasets.yaml', 'utf8'));
  validate(job);
  assert.equal(job.spec!.template.spec.volumes[0].persistentVolumeClaim.claimName, 'quantlab-datasets');

  const [so] = render('deploy/k8s/overlays/trial').filter((o) => o.kind === 'ScaledObject');
  assert.throws(() => validate({ ...so, spec: { ...so.spec, minReplicaCount: 'none' } }), /ScaledObject/);
  assert.throws(() => validate({ ...so, spec: { ...so.spec, scaleTargetRef: {} } }), /name/);
  const worker = render('deploy/k8s/overlays/trial').find((o) => o.kind === 'Deployment' && o.metadata.name === 'quantlab-worker')!;
  assert.throws(() => validate({ ...worker, spec: { ...worker.spec, template: { ...worker.spec!.template, spec: { ...worker.spec!.template.spec, terminationGracePeriodSeconds: 'long' } } } }), /Deployment/);
});
