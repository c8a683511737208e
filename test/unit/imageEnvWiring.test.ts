/**
 * The image-env family (src/core/wiring/imageEnvWiring.ts) on hand-made StatefulSets shaped like
 * charts on the official apache/kafka image: config from KAFKA_* env without _CFG_, no command.
 * Judged by effect (test/support/exposureEffect.ts): each broker's env after kubelet expansion,
 * and the client Service's route to the listener's bind port.
 */
import t from 'tap';
import { stringify } from 'yaml';
import { mutateManifests } from '../../src/cli/manifests.ts';
import type { EnvVar, Service, StatefulSet } from '../../src/core/kubeTypes.ts';
import { checkExposureEffect, checkSecondPassIsEmpty, MUTATE_OPTIONS } from '../support/exposureEffect.ts';
import { podStatefulSet } from '../support/fixtures.ts';
import { ADDRESSING_CASES } from '../support/nodeAddressing.ts';

const labels = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };

function apacheStatefulSet(name: string, env: EnvVar[], componentLabel = 'broker'): StatefulSet {
  return podStatefulSet(
    name,
    { ...labels, 'app.kubernetes.io/component': componentLabel },
    {
      name: 'kafka',
      image: 'apache/kafka:4.3.1',
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'KAFKA_NODE_ID', value: '0' },
        ...env,
      ],
      ports: [{ name: 'kafka', containerPort: 9092 }],
    },
  );
}

function service(name: string, component: string, ports: Service['spec']['ports']): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'kafka', labels },
    spec: { selector: { ...labels, 'app.kubernetes.io/component': component }, ports },
  };
}

function manifest(objects: unknown[]): { text: string; objects: unknown[] } {
  return { text: objects.map((o) => `---\n${stringify(o)}`).join(''), objects };
}

const combinedEnv = (advertised: string, listeners: string, map?: string): EnvVar[] => [
  { name: 'KAFKA_PROCESS_ROLES', value: 'broker,controller' },
  { name: 'KAFKA_CONTROLLER_LISTENER_NAMES', value: 'CONTROLLER' },
  { name: 'KAFKA_LISTENERS', value: listeners },
  { name: 'KAFKA_ADVERTISED_LISTENERS', value: advertised },
  ...(map ? [{ name: 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP', value: map }] : []),
];

t.test('only an inter-broker listener: an EXTERNAL listener on the node port is added and opened', (t) => {
  const { text, objects } = manifest([
    apacheStatefulSet(
      'kafka',
      combinedEnv(
        'PLAINTEXT://$(POD_NAME).kafka-headless:9092',
        'PLAINTEXT://:9092,CONTROLLER://:9093',
        'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      ),
    ),
    service('kafka', 'broker', [{ name: 'kafka', port: 9092, targetPort: 'kafka' }]),
  ]);
  checkExposureEffect(t, text, objects, 'exposed');
  checkSecondPassIsEmpty(t, text);
  const [sts] = mutateManifests(text, MUTATE_OPTIONS);
  t.equal(sts?.result.exposure?.family, 'image-env');
  t.match(JSON.stringify(sts?.result.patch), /CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT/);
  t.end();
});

t.test('a CLIENT listener is advertised on the node and keeps its bind port', (t) => {
  const { text, objects } = manifest([
    apacheStatefulSet(
      'kafka',
      combinedEnv(
        'INTERNAL://$(POD_NAME).kafka-headless:9094,CLIENT://$(POD_NAME).kafka-headless:9092',
        'INTERNAL://:9094,CLIENT://:9092,CONTROLLER://:9093',
        'CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT',
      ).concat([{ name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: 'INTERNAL' }]),
    ),
    service('kafka', 'broker', [{ name: 'kafka', port: 9092, targetPort: 'kafka' }]),
  ]);
  checkExposureEffect(t, text, objects, 'exposed');
  checkSecondPassIsEmpty(t, text);
  // The image's default command runs under the advertised-host prelude.
  for (const [, addressing] of ADDRESSING_CASES) {
    checkExposureEffect(t, text, objects, 'exposed', addressing);
    checkSecondPassIsEmpty(t, text, addressing.settings);
  }
  t.end();
});

t.test('controller-only pods are never exposed; a UI Service of the release is never opened', (t) => {
  const controllerEnv: EnvVar[] = [
    { name: 'KAFKA_PROCESS_ROLES', value: 'controller' },
    { name: 'KAFKA_LISTENERS', value: 'CONTROLLER://:9093' },
    { name: 'KAFKA_ADVERTISED_LISTENERS', value: 'CONTROLLER://$(POD_NAME).kafka-headless:9093' },
  ];
  const { text } = manifest([
    apacheStatefulSet('kafka-controller', controllerEnv, 'controller'),
    service('kafka-ui', 'ui', [{ name: 'http', port: 8080, targetPort: 8080 }]),
  ]);
  const [controller, ui] = mutateManifests(text, MUTATE_OPTIONS);
  t.equal(controller?.result.reason, 'not-a-broker');
  t.equal(ui?.result.reason, 'not-client-service');
  t.same([controller?.result.patch, ui?.result.patch], [[], []]);
  t.end();
});

t.test('no EXTERNAL listener is added beside a SASL inter-broker listener: unchanged, saying why', (t) => {
  const { text } = manifest([
    apacheStatefulSet(
      'kafka',
      combinedEnv(
        'SASL_SSL://$(POD_NAME).kafka-headless:9092',
        'SASL_SSL://:9092,CONTROLLER://:9093',
        'CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
      ),
    ),
  ]);
  const [sts] = mutateManifests(text, MUTATE_OPTIONS);
  t.equal(sts?.result.reason, 'unsupported-wiring');
  t.match(sts?.result.message, /env KAFKA_ADVERTISED_LISTENERS: SASL_SSL; listener SASL_SSL is SASL_SSL/);
  t.end();
});
