/**
 * Release-level decisions (src/core/release.ts) and reading Helm's release record
 * (src/server/helmReleaseRecord.ts): the Service's answer comes from the whole release, so it does
 * not depend on the order the objects arrive in.
 */
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { stringify } from 'yaml';
import { mutateRelease, serviceContext } from '../../src/core/release.ts';
import { mutateObject } from '../../src/core/mutateObject.ts';
import {
  claimRefusal,
  foreignHolder,
  nodePortHolder,
  nodePortTakenMessage,
} from '../../src/core/nodePortClaim.ts';
import type { Service } from '../../src/core/kubeTypes.ts';
import {
  currentRecord,
  decodeReleaseManifest,
  helmReleaseOf,
  type ReleaseRecordItem,
} from '../../src/server/helmReleaseRecord.ts';
import { clientService, envStatefulSet } from '../support/fixtures.ts';

const options = { defaults: {}, namespaceAnnotations: {} };
const seedListeners =
  'INTERNAL://kafka-0.kafka-headless:9093,CLIENT://kafka-0.kafka-headless:9092,OUTSIDE://1.1.1.1:9094';

function uiService(): Service {
  const service = clientService([{ name: 'http', port: 8080, targetPort: 8080 }]);
  service.metadata = { name: 'kafka-ui', namespace: 'kafka' };
  service.spec.selector = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/component': 'ui' };
  return service;
}

t.test('a Service that selects none of its release brokers is never opened', (t) => {
  const [, ui] = mutateRelease([envStatefulSet(seedListeners), uiService()], options);
  t.equal(ui?.decision, 'unchanged');
  t.equal(ui?.reason, 'not-client-service');
  t.match(ui?.message ?? '', /selects none of the release's 1 Kafka StatefulSet/);
  t.end();
});

t.test("the seed's OUTSIDE listener: the Service routes the nodePort to 9094, in either order", (t) => {
  const sts = envStatefulSet(seedListeners);
  const service = clientService([{ name: 'tcp-client', port: 9092, targetPort: 'kafka-client' }]);
  for (const objects of [
    [sts, service],
    [service, sts],
  ]) {
    const results = mutateRelease(objects, options);
    const serviceResult = results[objects.indexOf(service)];
    const added = serviceResult?.patch.find((op) => op.path === '/spec/ports/-');
    t.match(added, { value: { targetPort: 9094, nodePort: 31980 } }, 'a port reaching OUTSIDE is added');
  }
  // What the webhook does with Helm's release record when the Service arrives before the StatefulSet.
  const context = serviceContext(service, { objects: [service, sts], complete: true }, options);
  const alone = mutateObject({ object: service, ...options, ...context });
  t.same(alone.patch, mutateRelease([sts, service], options)[1]?.patch, 'the webhook agrees with mutate');
  t.end();
});

function record(name: string, version: number, status: string, manifest: string): ReleaseRecordItem {
  const helm = gzipSync(JSON.stringify({ name: 'kafka', version, manifest })).toString('base64');
  return {
    name,
    labels: { owner: 'helm', name: 'kafka', version: String(version), status },
    release: Buffer.from(helm).toString('base64'),
  };
}

t.test('the release record of the revision being applied is read: the newest pending one', (t) => {
  const items = [
    record('sh.helm.release.v1.kafka.v1', 1, 'superseded', 'a'),
    record('sh.helm.release.v1.kafka.v3', 3, 'pending-upgrade', 'c'),
    record('sh.helm.release.v1.kafka.v2', 2, 'deployed', 'b'),
  ];
  t.equal(currentRecord(items)?.name, 'sh.helm.release.v1.kafka.v3');
  t.equal(currentRecord(items.slice(0, 1).concat(items.slice(2)))?.name, 'sh.helm.release.v1.kafka.v2');
  t.equal(currentRecord([]), undefined);
  t.end();
});

t.test("a release record decodes to Helm's manifest; anything else is an error", (t) => {
  const manifest = stringify(envStatefulSet(seedListeners));
  t.equal(decodeReleaseManifest(record('r', 1, 'pending-install', manifest)), manifest);
  t.throws(() => decodeReleaseManifest({ name: 'r', labels: {} }), /no release data/);
  const notJson = Buffer.from(Buffer.from('not json').toString('base64')).toString('base64');
  t.throws(() => decodeReleaseManifest({ name: 'r', labels: {}, release: notJson }));
  t.end();
});

t.test('the release an object belongs to comes from the annotations Helm sets', (t) => {
  const annotated = (annotations: Record<string, string>): unknown => ({ metadata: { annotations } });
  t.equal(helmReleaseOf(annotated({ 'meta.helm.sh/release-name': 'kafka' }), 'kafka'), 'kafka');
  t.equal(
    helmReleaseOf(
      annotated({ 'meta.helm.sh/release-name': 'kafka', 'meta.helm.sh/release-namespace': 'other' }),
      'kafka',
    ),
    undefined,
    'a release of another namespace is not this one',
  );
  t.equal(helmReleaseOf(annotated({}), 'kafka'), undefined);
  t.equal(helmReleaseOf('nonsense', 'kafka'), undefined);
  t.end();
});

t.test('a node port is claimed by one release: another Service holding it is named', (t) => {
  const holder = (namespace: string, name: string, selector: Record<string, string>): unknown => ({
    kind: 'Service',
    metadata: { namespace, name },
    spec: { selector, ports: [{ port: 9092, nodePort: 31980 }] },
  });
  const sts = envStatefulSet(seedListeners);
  const own = holder('kafka', 'kafka', {
    'app.kubernetes.io/name': 'kafka',
    'app.kubernetes.io/instance': 'kafka',
  });
  const other = holder('team-b', 'kafka', { 'app.kubernetes.io/instance': 'other' });
  t.equal(foreignHolder(sts, 'kafka', 31980, [own]), undefined, "the release's own client Service");
  t.equal(foreignHolder(sts, 'kafka', 31980, [own, other]), 'team-b/kafka');
  t.equal(foreignHolder(sts, 'kafka', 31990, [own, other]), undefined, 'another port is free');
  t.equal(foreignHolder(own, 'kafka', 31980, [own]), undefined, 'a Service re-admitted holds its own port');
  t.equal(foreignHolder(own, 'kafka', 31980, [other]), 'team-b/kafka');
  t.match(
    nodePortTakenMessage(31980, 'team-b/kafka'),
    /31980.*team-b\/kafka.*kafka-nodeport-injector\/node-port/,
  );
  t.end();
});

t.test(
  'a StatefulSet is refused when its own Service already routes the node port to another listener',
  (t) => {
    const sts = envStatefulSet(seedListeners);
    const exposed = mutateObject({ object: sts });
    t.equal(exposed.exposure?.listener, 'OUTSIDE');
    const service = (targetPort: number | string): unknown => ({
      kind: 'Service',
      metadata: { namespace: 'kafka', name: 'kafka' },
      spec: {
        selector: { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' },
        ports: [{ port: 9092, targetPort, nodePort: 31980 }],
      },
    });
    // Applied before its StatefulSet without Helm, the Service was aimed at the chart's client port.
    const blind = claimRefusal(sts, 'kafka', exposed, [service('kafka-client')]);
    t.equal(blind?.reason, 'node-port-misrouted');
    t.match(
      blind?.message ?? '',
      /kafka\/kafka routes node port 31980 to container port 9092.*OUTSIDE listens on 9094/,
    );
    t.equal(
      claimRefusal(sts, 'kafka', exposed, [service(9094)]),
      undefined,
      'routed to the exposed listener',
    );
    t.equal(
      claimRefusal(sts, 'kafka', exposed, [service('no-such-port')]),
      undefined,
      'a route it cannot resolve is not judged',
    );
    t.equal(claimRefusal(sts, 'kafka', exposed, []), undefined, 'no Service yet');
    t.end();
  },
);

t.test(
  'what the Service cache keeps of a Service: node-port holders only, trimmed to what a claim reads',
  (t) => {
    const held = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        namespace: 'team-b',
        name: 'kafka',
        labels: { big: 'x'.repeat(1000) },
        managedFields: [{}],
      },
      spec: {
        type: 'NodePort',
        selector: { app: 'kafka' },
        ports: [
          { name: 'tcp', port: 9092, targetPort: 'kafka-client', nodePort: 31980, protocol: 'TCP' },
          { name: 'metrics', port: 9308 },
        ],
      },
      status: { loadBalancer: {} },
    };
    const trimmed = nodePortHolder(held);
    t.same(trimmed, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'team-b', name: 'kafka' },
      spec: {
        selector: { app: 'kafka' },
        ports: [{ nodePort: 31980, port: 9092, targetPort: 'kafka-client' }],
      },
    });
    t.equal(
      nodePortHolder({ ...held, spec: { ports: [{ port: 80 }] } }),
      undefined,
      'a ClusterIP Service: nothing',
    );
    // The trimmed copy decides a claim as the whole Service does.
    const sts = envStatefulSet(seedListeners);
    const result = mutateObject({ object: sts, namespaceAnnotations: {}, defaults: {} });
    t.same(claimRefusal(sts, 'kafka', result, [trimmed]), claimRefusal(sts, 'kafka', result, [held]));
    t.ok(claimRefusal(sts, 'kafka', result, [trimmed]), 'held by another release: refused');
    t.end();
  },
);
