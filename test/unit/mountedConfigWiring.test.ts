/**
 * The mounted-config family (src/core/wiring/mountedConfigWiring.ts) on hand-made releases: the
 * broker starts with `kafka-server-start.sh <file>` on a server.properties mounted read-only from a
 * ConfigMap, as a file (subPath) or with its directory. Judged by effect
 * (test/support/exposureEffect.ts): our init container runs for real on the ConfigMap's files and
 * the image's kafka-server-start.sh is a stub that prints the file the broker was given.
 */
import t from 'tap';
import { stringify } from 'yaml';
import { mutateManifests } from '../../src/cli/manifests.ts';
import type { Service, StatefulSet, VolumeMount } from '../../src/core/kubeTypes.ts';
import { checkExposureEffect, checkSecondPassIsEmpty, MUTATE_OPTIONS } from '../support/exposureEffect.ts';
import { podStatefulSet } from '../support/fixtures.ts';

const labels = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };

function properties(roles: string): string {
  return [
    `process.roles=${roles}`,
    'controller.listener.names=CONTROLLER',
    'listeners=INTERNAL://:9094,CLIENT://:9092,CONTROLLER://:9093',
    'advertised.listeners=INTERNAL://kafka-headless:9094,CLIENT://kafka:9092',
    'listener.security.protocol.map=INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=INTERNAL',
    '',
  ].join('\n');
}

function configMap(text: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kafka-config' },
    data: { 'server.properties': text, 'log4j.properties': 'log4j.rootLogger=INFO, stdout\n' },
  };
}

function statefulSet(mount: VolumeMount, file: string): StatefulSet {
  return podStatefulSet(
    'kafka',
    labels,
    {
      name: 'kafka',
      image: 'apache/kafka:4.3.1',
      command: ['/opt/kafka/bin/kafka-server-start.sh', file],
      ports: [
        { name: 'client', containerPort: 9092 },
        { name: 'internal', containerPort: 9094 },
      ],
      volumeMounts: [mount],
    },
    [{ name: 'config', configMap: { name: 'kafka-config' } }],
  );
}

const service: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'kafka', namespace: 'kafka', labels },
  spec: { selector: labels, ports: [{ name: 'client', port: 9092, targetPort: 'client' }] },
};

const kindOf = (object: unknown): unknown => (object as { kind?: unknown }).kind;

function manifest(objects: unknown[]): { text: string; objects: unknown[] } {
  return { text: objects.map((o) => `---\n${stringify(o)}`).join(''), objects };
}

const FILE_MOUNT: VolumeMount = {
  name: 'config',
  mountPath: '/etc/kafka/server.properties',
  subPath: 'server.properties',
  readOnly: true,
};
const DIR_MOUNT: VolumeMount = { name: 'config', mountPath: '/etc/kafka', readOnly: true };

for (const [how, mount] of [
  ['a file (subPath)', FILE_MOUNT],
  ['its directory', DIR_MOUNT],
] as const) {
  t.test(
    `mounted as ${how}: the broker reads an edited copy advertising its node, behind the Service`,
    (t) => {
      const { text, objects } = manifest([
        configMap(properties('broker,controller')),
        service,
        statefulSet(mount, '/etc/kafka/server.properties'),
      ]);
      checkExposureEffect(t, text, objects, 'exposed');
      checkSecondPassIsEmpty(t, text);
      const sts = mutateManifests(text, MUTATE_OPTIONS).find((m) => kindOf(m.object) === 'StatefulSet');
      t.equal(sts?.result.exposure?.family, 'mounted-config');
      t.equal(sts?.result.exposure?.listener, 'CLIENT');
      t.end();
    },
  );
}

t.test('a controller-only config is left alone, and so is the Service', (t) => {
  const { text } = manifest([
    configMap(properties('controller')),
    service,
    statefulSet(FILE_MOUNT, '/etc/kafka/server.properties'),
  ]);
  const results = mutateManifests(text, MUTATE_OPTIONS);
  const sts = results.find((m) => kindOf(m.object) === 'StatefulSet');
  t.equal(sts?.result.reason, 'not-a-broker');
  t.match(
    sts?.result.message,
    /process.roles=controller in \/etc\/kafka\/server.properties \(ConfigMap kafka-config\)/,
  );
  t.same(
    results.map((m) => m.result.patch),
    results.map(() => []),
  );
  t.end();
});

t.test('without its ConfigMap: unchanged, naming the file and the ConfigMap', (t) => {
  const [sts] = mutateManifests(
    manifest([statefulSet(FILE_MOUNT, '/etc/kafka/server.properties')]).text,
    MUTATE_OPTIONS,
  );
  t.equal(sts?.result.reason, 'unsupported-wiring');
  t.match(
    sts?.result.message,
    /reads \/etc\/kafka\/server.properties \(ConfigMap kafka-config\), which is not in view/,
  );
  t.end();
});

t.test('a broker no family knows is left unchanged with what was found', (t) => {
  const sts = statefulSet(DIR_MOUNT, '/etc/kafka/server.properties');
  const [broker] = sts.spec.template.spec.containers;
  if (!broker) throw new Error('fixture');
  broker.command = ['/usr/local/bin/run-kafka'];
  broker.env = [{ name: 'KAFKA_HEAP_OPTS', value: '-Xmx1g' }];
  const [result] = mutateManifests(manifest([sts]).text, MUTATE_OPTIONS);
  t.equal(result?.result.reason, 'unsupported-wiring');
  t.match(
    result?.result.message,
    'container kafka; command "/usr/local/bin/run-kafka"; env KAFKA_HEAP_OPTS; ConfigMap mounts /etc/kafka: no advertised listeners in',
  );
  t.end();
});

/** A KRaft broker's file, as Kafka's own `config/kraft/broker.properties` lays it out. */
const KRAFT_BROKER = [
  'process.roles=broker',
  'controller.listener.names=CONTROLLER',
  'listeners=INTERNAL://:9094,CLIENT://:9092',
  'advertised.listeners=INTERNAL://kafka-headless:9094,CLIENT://kafka:9092',
  'listener.security.protocol.map=INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT',
  'inter.broker.listener.name=INTERNAL',
  '',
].join('\n');

function kraftRelease(
  mount: VolumeMount,
  items: { key: string; path: string }[] | undefined,
  properties = KRAFT_BROKER,
): { text: string; objects: unknown[] } {
  const sts = statefulSet(mount, '/opt/kafka/config/kraft/broker.properties');
  const [volume] = sts.spec.template.spec.volumes ?? [];
  if (volume && items) volume.configMap = { name: 'kafka-config', items };
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kafka-config' },
    data: { 'broker.properties': properties, 'log4j.properties': 'log4j.rootLogger=INFO, stdout\n' },
  };
  return manifest([configMap, service, sts]);
}

const KRAFT_ITEMS = [
  { key: 'broker.properties', path: 'kraft/broker.properties' },
  { key: 'log4j.properties', path: 'log4j.properties' },
];

for (const [how, mount, items] of [
  [
    'a kraft/ directory holding broker.properties',
    { name: 'config', mountPath: '/opt/kafka/config/kraft' },
    undefined,
  ],
  [
    'the config directory, broker.properties placed in kraft/ by items',
    { name: 'config', mountPath: '/opt/kafka/config' },
    KRAFT_ITEMS,
  ],
  [
    'one nested item by subPath',
    {
      name: 'config',
      mountPath: '/opt/kafka/config/kraft/broker.properties',
      subPath: 'kraft/broker.properties',
    },
    KRAFT_ITEMS,
  ],
] as const) {
  t.test(`a KRaft broker.properties mounted as ${how}: the broker reads an edited copy`, (t) => {
    const { text, objects } = kraftRelease({ ...mount, readOnly: true }, items ? [...items] : undefined);
    checkExposureEffect(t, text, objects, 'exposed');
    checkSecondPassIsEmpty(t, text);
    const sts = mutateManifests(text, MUTATE_OPTIONS).find((m) => kindOf(m.object) === 'StatefulSet');
    t.equal(sts?.result.exposure?.family, 'mounted-config');
    t.equal(sts?.result.exposure?.listener, 'CLIENT');
    t.match(sts?.result.changes, [
      'initContainer kafka-nodeport-injector: edited copy of /opt/kafka/config/kraft/broker.properties (ConfigMap kafka-config)',
    ]);
    t.end();
  });
}

t.test('a file whose only listener is the (default) inter-broker one is left unchanged, saying so', (t) => {
  const single = [
    'process.roles=broker',
    'listeners=PLAINTEXT://:9092',
    'advertised.listeners=PLAINTEXT://kafka-0.kafka-headless:9092',
    '',
  ].join('\n');
  const { text } = kraftRelease({ name: 'config', mountPath: '/opt/kafka/config/kraft' }, undefined, single);
  const results = mutateManifests(text, MUTATE_OPTIONS);
  const sts = results.find((m) => kindOf(m.object) === 'StatefulSet');
  t.equal(sts?.result.reason, 'unsupported-wiring');
  t.match(
    sts?.result.message,
    /advertised.listeners in \/opt\/kafka\/config\/kraft\/broker.properties \(ConfigMap kafka-config\): PLAINTEXT; no listener facing clients/,
  );
  t.same(
    results.map((m) => m.result.patch),
    results.map(() => []),
  );
  t.end();
});
