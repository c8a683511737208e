/**
 * SPEC §5 POST /mutate: AdmissionReview v1 and v1beta1 in, the same apiVersion and uid out, a
 * base64 JSONPatch only when there is something to change, and every core decision mapped the
 * way controller-runtime maps Allowed / Denied / Patched.
 */
import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { outcome } from '../../src/core/result.ts';
import { ReleaseUnavailable, type FoundRelease } from '../../src/server/kubeRelease.ts';
import { NamespaceCache, type NamespaceEvents } from '../../src/server/namespaceCache.ts';
import { clientService } from '../support/fixtures.ts';
import { kafkaStatefulSet, postReview, review, testApp } from './helpers.ts';

t.test('a Kafka StatefulSet is admitted with a JSONPatch that applies cleanly', async (t) => {
  const { app } = await testApp();
  const object = kafkaStatefulSet();
  const { statusCode, review: answer, patch } = await postReview(app, review(object, { uid: 'uid-1' }));
  t.equal(statusCode, 200);
  t.equal(answer.apiVersion, 'admission.k8s.io/v1');
  t.equal(answer.kind, 'AdmissionReview');
  t.equal(answer.response.uid, 'uid-1');
  t.equal(answer.response.allowed, true);
  t.equal(answer.response.patchType, 'JSONPatch');
  t.ok(patch.length > 0, 'non-empty patch');
  const mutated = fastJsonPatch.applyPatch(structuredClone(object), patch, true, false).newDocument as {
    spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
  };
  const advertised = mutated.spec.template.spec.containers[0]?.env.find(
    (e) => e.name === 'KAFKA_CFG_ADVERTISED_LISTENERS',
  );
  t.match(advertised?.value, /CLIENT:\/\/\$\(MY_HOST_IP\):31980/);
});

t.test('v1beta1 in, v1beta1 out, same uid', async (t) => {
  const { app } = await testApp();
  const { review: answer } = await postReview(
    app,
    review(kafkaStatefulSet(), { apiVersion: 'admission.k8s.io/v1beta1', uid: 'beta-uid' }),
  );
  t.equal(answer.apiVersion, 'admission.k8s.io/v1beta1');
  t.equal(answer.response.uid, 'beta-uid');
  t.equal(answer.response.allowed, true);
  t.equal(answer.response.patchType, 'JSONPatch');
});

t.test('an already-mutated object (helm upgrade) is admitted with no patch', async (t) => {
  const { app } = await testApp();
  const object = kafkaStatefulSet();
  const first = await postReview(app, review(object));
  const mutated = fastJsonPatch.applyPatch(structuredClone(object), first.patch, true, false).newDocument;
  const { review: answer } = await postReview(
    app,
    review(mutated, { operation: 'UPDATE', oldObject: mutated }),
  );
  t.equal(answer.response.allowed, true);
  t.notOk('patch' in answer.response, 'no patch');
  t.notOk('patchType' in answer.response, 'no patchType');
  t.equal(answer.response.auditAnnotations?.decision, 'unchanged');
});

t.test('objects the webhook does not touch are allowed without a patch', async (t) => {
  const { app } = await testApp();
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: 'kafka' },
    data: {},
  };
  const { review: answer } = await postReview(app, review(configMap));
  t.same(answer.response, {
    uid: answer.response.uid,
    allowed: true,
    auditAnnotations: { decision: 'skipped', reason: 'unsupported-kind' },
  });
});

t.test('DELETE and a request without object are allowed with no patch', async (t) => {
  const { app, audit } = await testApp();
  const del = await postReview(app, review(kafkaStatefulSet(), { operation: 'DELETE' }));
  t.equal(del.review.response.allowed, true);
  t.notOk(del.review.response.patch);
  const body = review(undefined, { operation: 'CREATE' });
  const none = await postReview(app, body);
  t.equal(none.review.response.allowed, true);
  t.notOk(none.review.response.patch);
  t.same(
    audit.records.map((r) => [r.operation, r.decision, r.reason]),
    [
      ['DELETE', 'skipped', 'operation-not-mutated'],
      ['CREATE', 'skipped', 'invalid-object'],
    ],
  );
});

t.test('an invalid configuration value is denied with 403 Forbidden naming key and value', async (t) => {
  const { app } = await testApp();
  const object = kafkaStatefulSet();
  (object.metadata as { annotations?: Record<string, string> }).annotations = {
    'kafka-nodeport-injector/node-port': 'ninety',
  };
  const { statusCode, review: answer } = await postReview(app, review(object, { uid: 'deny-me' }));
  t.equal(statusCode, 200, 'a denial is a successful webhook call');
  t.equal(answer.response.uid, 'deny-me');
  t.equal(answer.response.allowed, false);
  t.equal(answer.response.status?.code, 403);
  t.equal(answer.response.status?.reason, 'Forbidden');
  t.match(answer.response.status?.message, /node-port.*ninety/);
  t.notOk(answer.response.patch);
});

t.test('unsupported wiring on a Kafka object is allowed, with a warning', async (t) => {
  const { app } = await testApp({
    mutate: () =>
      outcome(
        'unchanged',
        'unsupported-wiring',
        'advertised listeners are wired in a way this version does not know',
      ),
  });
  const { review: answer } = await postReview(app, review(kafkaStatefulSet()));
  t.equal(answer.response.allowed, true);
  t.notOk(answer.response.patch);
  t.same(answer.response.warnings, [
    'kafka-nodeport-injector: StatefulSet kafka not exposed: advertised listeners are wired in a way this version does not know',
  ]);
});

t.test('a throw inside the core never loses the uid: allowed, no patch, a warning', async (t) => {
  const { app, audit } = await testApp({
    mutate: () => {
      throw new Error('boom');
    },
  });
  const { statusCode, review: answer } = await postReview(
    app,
    review(kafkaStatefulSet(), { uid: 'keep-me', apiVersion: 'admission.k8s.io/v1beta1' }),
  );
  t.equal(statusCode, 200);
  t.equal(answer.apiVersion, 'admission.k8s.io/v1beta1');
  t.equal(answer.response.uid, 'keep-me');
  t.equal(answer.response.allowed, true);
  t.notOk(answer.response.patch);
  t.match(
    answer.response.warnings?.[0],
    /^kafka-nodeport-injector: StatefulSet kafka not exposed: internal error: boom/,
  );
  t.equal(audit.records[0]?.decision, 'error');
  t.equal(audit.records[0]?.uid, 'keep-me');
});

t.test('an error decision from the core is allowed with a warning', async (t) => {
  const { app } = await testApp({
    mutate: () => outcome('error', 'internal-error', 'internal error on StatefulSet: x'),
  });
  const { review: answer } = await postReview(app, review(kafkaStatefulSet()));
  t.equal(answer.response.allowed, true);
  t.equal(answer.response.warnings?.length, 1);
});

t.test('system namespaces and the webhook’s own are never mutated', async (t) => {
  const { app } = await testApp({ protectedNamespaces: new Set(['kube-system', 'injector-home']) });
  for (const namespace of ['kube-system', 'injector-home']) {
    const { review: answer } = await postReview(app, review(kafkaStatefulSet(), { namespace }));
    t.equal(answer.response.allowed, true, namespace);
    t.notOk(answer.response.patch, namespace);
    t.equal(answer.response.auditAnnotations?.reason, 'protected-namespace');
  }
});

t.test('subresource requests are never mutated', async (t) => {
  const { app } = await testApp();
  const body = review(kafkaStatefulSet(), { operation: 'UPDATE' });
  (body.request as Record<string, unknown>).subResource = 'status';
  const { review: answer } = await postReview(app, body);
  t.notOk(answer.response.patch);
});

t.test('namespace annotations from the cache configure the object (SPEC §2 resolution order)', async (t) => {
  let events: NamespaceEvents | undefined;
  const cache = new NamespaceCache({
    description: 'fake',
    start: (e) => {
      events = e;
    },
    stop: () => Promise.resolve(),
  });
  cache.start();
  events?.upsert('kafka', { 'kafka-nodeport-injector/node-port': '31555', unrelated: 'x' });
  events?.synced();
  const { app } = await testApp({ namespaces: cache, defaults: { 'node-port': '31444' } });
  const nsWins = await postReview(app, review(kafkaStatefulSet()));
  t.match(JSON.stringify(nsWins.patch), /MY_HOST_IP\)?:31555/, 'namespace annotation beats the server flag');

  const object = kafkaStatefulSet();
  (object.metadata as { annotations?: Record<string, string> }).annotations = {
    'kafka-nodeport-injector/node-port': '31666',
  };
  const objectWins = await postReview(app, review(object));
  t.match(JSON.stringify(objectWins.patch), /:31666/, 'object annotation beats the namespace');

  const elsewhere = await postReview(app, review(kafkaStatefulSet(), { namespace: 'other' }));
  t.match(JSON.stringify(elsewhere.patch), /:31444/, 'server flag where the namespace says nothing');
});

t.test('auditAnnotations carry decision, reason and patch paths with valid keys', async (t) => {
  const { app } = await testApp();
  const { review: answer, patch } = await postReview(app, review(kafkaStatefulSet()));
  const annotations = answer.response.auditAnnotations ?? {};
  t.same(Object.keys(annotations).sort(), ['decision', 'patch-paths', 'reason']);
  for (const key of Object.keys(annotations)) t.match(key, /^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/);
  t.equal(annotations['patch-paths'], [...new Set(patch.map((op) => op.path))].join(','));
  t.notMatch(JSON.stringify(annotations), /hunter2/, 'no env values');
});

t.test('before the namespace cache is synced, nothing is mutated on guesswork', async (t) => {
  const cache = new NamespaceCache({
    description: 'never synced',
    start: () => undefined,
    stop: () => Promise.resolve(),
  });
  cache.start();
  const { app, audit } = await testApp({ namespaces: cache });
  const { review: answer } = await postReview(app, review(kafkaStatefulSet()));
  t.equal(answer.response.allowed, true);
  t.notOk(answer.response.patch, 'no patch');
  t.match(answer.response.warnings?.[0], /not exposed: namespace annotations are not loaded yet/);
  t.match(audit.records[0], { decision: 'error', reason: 'namespace-cache-not-ready' });
});

t.test('a client Service whose Helm release record cannot be read is denied, not guessed', async (t) => {
  const release = (): Promise<never> =>
    Promise.reject(new ReleaseUnavailable('helm release record of kafka/kafka not readable: forbidden'));
  const { app, audit } = await testApp({ release });
  const service = {
    ...clientService([{ name: 'tcp-client', port: 9092, targetPort: 'kafka-client' }]),
    metadata: { name: 'kafka', namespace: 'kafka', annotations: { 'meta.helm.sh/release-name': 'kafka' } },
  };
  const { review: answer } = await postReview(app, review(service));
  t.equal(answer.response.allowed, false);
  t.match(answer.response.status?.message, /release record of kafka\/kafka not readable: forbidden; retry/);
  t.notOk(answer.response.patch, 'nothing is changed');
  t.equal(audit.records.at(-1)?.reason, 'release-unreadable');
});

t.test('a Kafka StatefulSet claiming a node port another release holds is denied, naming both', async (t) => {
  const held = {
    metadata: { namespace: 'team-b', name: 'kafka' },
    spec: { ports: [{ port: 9092, nodePort: 31980 }] },
  };
  const { app, audit } = await testApp({ nodePorts: { ready: true, holders: () => [held] } });
  const { review: answer } = await postReview(app, review(kafkaStatefulSet()));
  t.equal(answer.response.allowed, false);
  t.match(answer.response.status?.message, /node port 31980 is held by Service team-b\/kafka/);
  t.equal(audit.records.at(-1)?.reason, 'node-port-taken');
  const free = await testApp({ nodePorts: { ready: true, holders: () => [] } });
  const { review: allowed } = await postReview(free.app, review(kafkaStatefulSet()));
  t.equal(allowed.response.allowed, true, 'a free port is claimed');
  t.ok(allowed.response.patch);
});

t.test('before the node ports held are loaded, a claim is not made on guesswork', async (t) => {
  const { app, audit } = await testApp({ nodePorts: { ready: false, holders: () => [] } });
  const { review: answer } = await postReview(app, review(kafkaStatefulSet()));
  t.equal(answer.response.allowed, true);
  t.notOk(answer.response.patch, 'no patch');
  t.match(answer.response.warnings?.[0], /not exposed: the node ports Services hold are not loaded yet/);
  t.match(audit.records[0], { decision: 'error', reason: 'service-cache-not-ready' });
});

t.test(
  'a namespace that has not granted its reads: decided without them, and told what to run',
  async (t) => {
    const release = (): Promise<FoundRelease> =>
      Promise.resolve({ objects: [], complete: false, unread: ['Helm release records', 'StatefulSets'] });
    const { app, audit } = await testApp({
      release,
      identity: { namespace: 'kni', serviceAccount: 'webhook' },
    });
    const service = {
      ...clientService([{ name: 'tcp-client', port: 9092, targetPort: 'kafka-client' }]),
      metadata: { name: 'kafka', namespace: 'kafka', annotations: { 'meta.helm.sh/release-name': 'kafka' } },
    };
    const { review: answer } = await postReview(app, review(service));
    t.equal(answer.response.allowed, true);
    const warnings = answer.response.warnings ?? [];
    t.match(
      warnings.join('\n'),
      /cannot read Helm release records, StatefulSets in namespace kafka: it has not granted the webhook its reads/,
    );
    t.equal(
      warnings.at(-1),
      'kubectl -n kafka create rolebinding kafka-nodeport-injector --clusterrole=kafka-nodeport-injector-release-reader --serviceaccount=kni:webhook',
    );
    t.same(audit.records.at(-1)?.unread, ['Helm release records', 'StatefulSets']);
  },
);

t.test('a name that is no string (even {"toString": {}}) is answered with the uid, not a 500', async (t) => {
  const { app } = await testApp();
  for (const kind of ['StatefulSet', 'Service']) {
    const object = {
      ...kafkaStatefulSet(),
      kind,
      metadata: { name: { toString: {} }, namespace: { valueOf: 1 } },
    };
    const { statusCode, review: answer } = await postReview(app, review(object, { uid: `odd-${kind}` }));
    t.equal(statusCode, 200);
    t.equal(answer.response.uid, `odd-${kind}`);
    t.equal(answer.response.allowed, true);
  }
});
