/**
 * Issue 23 class 2: a chart's own per-broker Services (one per broker pod, a fixed nodePort or a
 * LoadBalancer) mean its brokers are exposed already, whenever they are in view: in `mutate`'s
 * whole release and in the webhook, whatever order the objects arrive in. Exposing such a release
 * again would advertise one NodePort beside the chart's own per-broker addresses.
 */
import t from 'tap';
import { mutateManifests, renderManifests } from '../../src/cli/manifests.ts';
import type { Service } from '../../src/core/kubeTypes.ts';
import type { ReleaseView } from '../../src/core/release.ts';
import { envStatefulSet, clientService, manifestOf } from '../support/fixtures.ts';
import { postReview, review, testApp } from './helpers.ts';

const POD_LABELS = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };
const options = { defaults: {}, namespaceAnnotations: {} };

/** The chart's Service in front of broker `ordinal` alone. */
function perBrokerService(ordinal: number, type: 'NodePort' | 'LoadBalancer' | 'ClusterIP'): Service {
  const name = `kafka-${String(ordinal)}`;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `${name}-external`, namespace: 'kafka', labels: POD_LABELS },
    spec: {
      type,
      selector: { ...POD_LABELS, 'statefulset.kubernetes.io/pod-name': name },
      ports: [
        {
          name: 'external',
          port: 9094,
          targetPort: 9094,
          ...(type === 'NodePort' ? { nodePort: 31090 + ordinal } : {}),
        },
      ],
    },
  };
}

/**
 * A release whose brokers advertise their own EXTERNAL address each (a DNS name per broker, bound
 * on 9094), reached through per-broker Services on `targetPort`: the webhook would expose EXTERNAL,
 * were it not for those Services.
 */
function release(type: 'NodePort' | 'LoadBalancer' | 'ClusterIP', targetPort = 9094): unknown[] {
  const sts = envStatefulSet(
    'INTERNAL://$(MY_POD_NAME).kafka-headless:9093,CLIENT://$(MY_POD_NAME).kafka-headless:9092,EXTERNAL://$(MY_POD_NAME).kafka.example.com:9094',
  );
  const env = sts.spec.template.spec.containers[0]?.env ?? [];
  const listeners = env.find((e) => e.name === 'KAFKA_CFG_LISTENERS');
  if (listeners) listeners.value = 'INTERNAL://:9093,CLIENT://:9092,EXTERNAL://:9094';
  const client = clientService([{ name: 'tcp-client', port: 9092, targetPort: 'kafka-client' }]);
  const perBroker = [0, 1, 2].map((ordinal) => {
    const service = perBrokerService(ordinal, type);
    const [port] = service.spec.ports ?? [];
    if (port) port.targetPort = targetPort;
    return service;
  });
  return [...perBroker, client, sts];
}

for (const type of ['NodePort', 'LoadBalancer'] as const) {
  t.test(`per-broker ${type} Services: mutate leaves the whole release as it is`, (t) => {
    const { text } = manifestOf(release(type));
    const documents = mutateManifests(text, options);
    t.equal(renderManifests(documents), text, 'output is the input, byte for byte');
    const decided = documents.filter((d) => d.result.decision !== 'skipped');
    for (const { object, result } of decided) {
      const kind = (object as { kind: string }).kind;
      if (kind === 'StatefulSet' || (object as Service).metadata?.name === 'kafka') {
        t.equal(result.reason, 'already-exposed', `${kind}: left to the chart`);
        t.match(result.message, /kafka-0-external, kafka-1-external, kafka-2-external/);
      }
    }
    t.end();
  });

  t.test(
    `per-broker ${type} Services: the webhook agrees, Services first or StatefulSet first`,
    async (t) => {
      const objects = release(type);
      const view: ReleaseView = { objects, complete: true };
      const { app, audit } = await testApp({ release: () => Promise.resolve(view) });
      const sts = objects.at(-1);
      const client = objects.at(-2);
      for (const object of [client, sts]) {
        const answer = await postReview(app, review(object));
        t.equal(answer.review.response.allowed, true);
        t.same(answer.patch, [], 'nothing changed');
      }
      t.same(
        audit.records.map((r) => [r.kind, r.reason]),
        [
          ['Service', 'already-exposed'],
          ['StatefulSet', 'already-exposed'],
        ],
      );
      await app.close();
    },
  );
}

t.test('per-broker ClusterIP Services expose nothing: the brokers are still exposed', (t) => {
  const documents = mutateManifests(manifestOf(release('ClusterIP')).text, options);
  const sts = documents.find((d) => (d.object as { kind: string }).kind === 'StatefulSet');
  t.equal(sts?.result.decision, 'mutated');
  t.end();
});

t.test(
  'per-broker Services in front of a port no listener binds expose nothing: the brokers are exposed',
  (t) => {
    // incubator/kafka's external.enabled without an external listener: Services to 31090+i, where
    // nothing listens.
    const documents = mutateManifests(manifestOf(release('NodePort', 31090)).text, options);
    const sts = documents.find((d) => (d.object as { kind: string }).kind === 'StatefulSet');
    t.equal(sts?.result.decision, 'mutated');
    t.end();
  },
);

t.test("another release's per-broker Services do not count", (t) => {
  const objects = release('NodePort').map((object) => {
    const service = object as Partial<Service>;
    if (!service.spec || service.kind !== 'Service' || service.metadata?.name === 'kafka') return object;
    const selector = { ...service.spec.selector, 'app.kubernetes.io/instance': 'other' };
    return { ...service, spec: { ...service.spec, selector } };
  });
  const documents = mutateManifests(manifestOf(objects).text, options);
  const sts = documents.find((d) => (d.object as { kind: string }).kind === 'StatefulSet');
  t.equal(sts?.result.decision, 'mutated');
  t.end();
});
