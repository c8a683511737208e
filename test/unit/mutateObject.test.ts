/** SPEC §2–3 decisions of the core on hand-made objects, and bad input. */
import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { mutateObject } from '../../src/core/mutateObject.ts';
import type { EnvVar, StatefulSet } from '../../src/core/kubeTypes.ts';
import { clientService, envStatefulSet } from '../support/fixtures.ts';

const SEED =
  'INTERNAL://$(MY_POD_NAME).kafka-headless.kafka.svc.cluster.local:9093,CLIENT://$(MY_POD_NAME).kafka-headless.kafka.svc.cluster.local:9092,OUTSIDE://1.1.1.1:9094';

function applied<T>(object: T, patch: fastJsonPatch.Operation[]): T {
  return fastJsonPatch.applyPatch(structuredClone(object), patch, true, false).newDocument;
}

function env(sts: StatefulSet): EnvVar[] {
  return sts.spec.template.spec.containers[0]?.env ?? [];
}

t.test("the seed's one fixed address (OUTSIDE://1.1.1.1:9094) becomes each broker's own node IP", (t) => {
  const sts = envStatefulSet(SEED);
  const result = mutateObject({ object: sts });
  t.equal(result.decision, 'mutated');
  const after = applied(sts, result.patch);
  const advertised = env(after).find((e) => e.name === 'KAFKA_CFG_ADVERTISED_LISTENERS')?.value;
  t.equal(
    advertised,
    'INTERNAL://$(MY_POD_NAME).kafka-headless.kafka.svc.cluster.local:9093,CLIENT://$(MY_POD_NAME).kafka-headless.kafka.svc.cluster.local:9092,OUTSIDE://$(MY_HOST_IP):31980',
  );
  t.equal(result.exposure?.containerPort, 9094, 'the NodePort must reach OUTSIDE, bound on 9094');
  t.end();
});

t.test('MY_HOST_IP is defined before its first reference, and an existing definition is reused', (t) => {
  const sts = envStatefulSet(SEED);
  const after = applied(sts, mutateObject({ object: sts }).patch);
  const names = env(after).map((e) => e.name);
  t.ok(names.indexOf('MY_HOST_IP') < names.indexOf('KAFKA_CFG_ADVERTISED_LISTENERS'));
  t.equal(names.filter((n) => n === 'MY_HOST_IP').length, 1);

  const withOwn = envStatefulSet(SEED);
  env(withOwn).unshift({ name: 'MY_HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } });
  const reused = applied(withOwn, mutateObject({ object: withOwn }).patch);
  t.equal(env(reused).filter((e) => e.name === 'MY_HOST_IP').length, 1, 'never duplicated');
  t.end();
});

t.test(
  'a duplicate KAFKA_CFG_ADVERTISED_LISTENERS from extraEnvVars: the last one, which wins, is rewritten',
  (t) => {
    const sts = envStatefulSet(SEED, [
      { name: 'KAFKA_CFG_ADVERTISED_LISTENERS', value: 'INTERNAL://x:9093,CLIENT://y:9092' },
    ]);
    const after = applied(sts, mutateObject({ object: sts }).patch);
    const values = env(after)
      .filter((e) => e.name === 'KAFKA_CFG_ADVERTISED_LISTENERS')
      .map((e) => e.value);
    t.same(values, [SEED, 'INTERNAL://x:9093,CLIENT://$(MY_HOST_IP):31980']);
    t.end();
  },
);

t.test('object annotations override namespace annotations, which override server flags', (t) => {
  const sts = envStatefulSet(SEED);
  sts.metadata = { ...sts.metadata, annotations: { 'kafka-nodeport-injector/node-port': '31001' } };
  const result = mutateObject({
    object: sts,
    namespaceAnnotations: {
      'kafka-nodeport-injector/node-port': '31002',
      'kafka-nodeport-injector/listener': 'CLIENT',
    },
    defaults: { 'node-port': '31003', 'anti-affinity': 'none' },
  });
  t.equal(result.exposure?.advertised, 'CLIENT://$(MY_HOST_IP):31001');
  t.notOk(
    result.patch.some((op) => op.path.includes('affinity')),
    'anti-affinity none from the server flag adds no affinity',
  );
  t.end();
});

t.test('an unparseable annotation is denied, naming key and value', (t) => {
  const result = mutateObject({
    object: envStatefulSet(SEED),
    namespaceAnnotations: { 'kafka-nodeport-injector/node-port': 'lots' },
  });
  t.equal(result.decision, 'denied');
  t.equal(result.reason, 'invalid-config');
  t.match(result.message, /kafka-nodeport-injector\/node-port: "lots"/);
  t.same(result.patch, []);
  t.end();
});

t.test('objects the webhook does not own are admitted unchanged with a reason, never a throw', (t) => {
  const zk = envStatefulSet(SEED);
  zk.metadata = { name: 'kafka-zookeeper', labels: { 'app.kubernetes.io/name': 'zookeeper' } };
  const unrelated = envStatefulSet(SEED);
  for (const c of unrelated.spec.template.spec.containers) c.env = [{ name: 'PGDATA', value: '/data' }];
  for (const [object, reason] of [
    [zk, 'not-kafka'],
    [unrelated, 'not-kafka'],
    [{ kind: 'ConfigMap', metadata: { name: 'x' } }, 'unsupported-kind'],
    [{ kind: 'StatefulSet', spec: 'broken' }, 'invalid-object'],
    [{ kind: 'StatefulSet', spec: { template: { spec: { containers: 'no' } } } }, 'invalid-object'],
    [null, 'invalid-object'],
    [42, 'invalid-object'],
    [{ kind: 'Service', spec: { selector: { app: 'postgres' }, ports: [] } }, 'not-kafka'],
  ] as [unknown, string][]) {
    const result = mutateObject({ object });
    t.equal(result.reason, reason, `${JSON.stringify(object).slice(0, 60)} → ${reason}`);
    t.same(result.patch, []);
  }
  t.end();
});

t.test('an object with a field of the wrong type is admitted unchanged, naming the field', (t) => {
  const result = mutateObject({
    object: {
      kind: 'StatefulSet',
      metadata: { name: 'k' },
      spec: { template: { spec: { containers: [{ name: 7 }] } } },
    },
  });
  t.equal(result.reason, 'invalid-object');
  t.match(result.message, 'spec.template.spec.containers.0.name must be string');
  t.end();
});

t.test('the opt-out label leaves a Kafka object alone', (t) => {
  const sts = envStatefulSet(SEED);
  sts.metadata = { ...sts.metadata, labels: { 'kafka-nodeport-injector/inject': 'disabled' } };
  t.equal(mutateObject({ object: sts }).reason, 'opted-out');
  t.end();
});

t.test('unknown wiring is admitted unchanged with reason unsupported-wiring', (t) => {
  const sts = envStatefulSet(SEED);
  const container = sts.spec.template.spec.containers[0];
  if (container) container.env = [{ name: 'KAFKA_HEAP_OPTS', value: '-Xmx1g' }];
  const result = mutateObject({ object: sts });
  t.equal(result.decision, 'unchanged');
  t.equal(result.reason, 'unsupported-wiring');
  t.end();
});

t.test(
  'client Service: NodePort, externalTrafficPolicy Local, nodePort on the client port; headless left alone',
  (t) => {
    const service = clientService([
      { name: 'tcp-client', port: 9092, targetPort: 'kafka-client', nodePort: null },
      { name: 'metrics', port: 5556 },
    ]);
    const result = mutateObject({ object: service });
    const after = applied(service, result.patch);
    t.equal(after.spec.type, 'NodePort');
    t.equal(after.spec.externalTrafficPolicy, 'Local');
    t.equal(after.spec.ports?.[0]?.nodePort, 31980);
    t.equal(after.spec.ports?.[1]?.nodePort, undefined);
    t.equal(mutateObject({ object: after }).patch.length, 0, 'idempotent');

    const headless = clientService([{ name: 'tcp-client', port: 9092 }]);
    headless.spec.clusterIP = 'None';
    t.equal(mutateObject({ object: headless }).reason, 'not-client-service');
    const perBroker = clientService([{ name: 'tcp-kafka', port: 9094 }]);
    perBroker.spec.selector = { ...perBroker.spec.selector, 'statefulset.kubernetes.io/pod-name': 'kafka-0' };
    t.equal(mutateObject({ object: perBroker }).reason, 'not-client-service');
    t.end();
  },
);

t.test('a Service with no port reaching the listener gets one added', (t) => {
  const service = clientService([{ name: 'broker', port: 9092 }]);
  const result = mutateObject({
    object: service,
    serviceTarget: { listener: 'OUTSIDE', containerPort: 9094, portNames: { 'kafka-outside': 9094 } },
  });
  const after = applied(service, result.patch);
  t.same(after.spec.ports?.[1], {
    name: 'external',
    port: 31980,
    protocol: 'TCP',
    targetPort: 9094,
    nodePort: 31980,
  });
  t.ok(
    result.patch.every((op) => op.path !== '/spec/ports'),
    'ports are appended, never replaced',
  );
  t.end();
});

t.test('patches never replace env, containers or ports wholesale', (t) => {
  const result = mutateObject({ object: envStatefulSet(SEED) });
  for (const op of result.patch) {
    t.notMatch(op.path, /\/(env|containers|ports|initContainers)$/, `${op.op} ${op.path}`);
  }
  t.end();
});
