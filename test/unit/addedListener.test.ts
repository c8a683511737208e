/**
 * SPEC §4 "an EXTERNAL listener is added when the chart has a single listener used for
 * inter-broker traffic", the same in every family that can add one: bitnami's env
 * (`KAFKA_CFG_*`), the image env (`KAFKA_*`) and the command string. Hand-made releases in the
 * manner of charts on each image, judged by effect (test/support/exposureEffect.ts): the chart's
 * own start-up runs for real and the image's entrypoint is a stub that prints what Kafka would
 * be configured with. The security rule is the same for all: never a PLAINTEXT listener beside
 * an SSL or SASL one.
 */
import t from 'tap';
import { mutateManifests } from '../../src/cli/manifests.ts';
import type { Container, EnvVar, StatefulSet } from '../../src/core/kubeTypes.ts';
import { checkExposureEffect, checkSecondPassIsEmpty, MUTATE_OPTIONS } from '../support/exposureEffect.ts';
import {
  bitnamiImageRelease,
  KAFKA_CLIENT_SERVICE,
  manifestOf,
  POD_NAME_ENV,
  podStatefulSet,
} from '../support/fixtures.ts';
import { ADDRESSING_CASES } from '../support/nodeAddressing.ts';

const labels = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };
const HEADLESS = 'kafka-headless.kafka.svc.cluster.local';
const POD_IP: EnvVar = { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };

interface Layout {
  /** The one listener, e.g. PLAINTEXT, and its protocol-map entry if the chart writes a map. */
  listener: string;
  map?: string;
  interBroker?: string;
}

/** A chart on bitnami's image: env `KAFKA_CFG_*`, started by its setup script. */
function bitnamiImage({ listener, map, interBroker }: Layout): unknown[] {
  return bitnamiImageRelease([
    ...(interBroker ? [{ name: 'KAFKA_CFG_INTER_BROKER_LISTENER_NAME', value: interBroker }] : []),
    ...(map ? [{ name: 'KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP', value: map }] : []),
    { name: 'KAFKA_CFG_LISTENERS', value: `${listener}://:9092` },
    { name: 'KAFKA_CFG_ADVERTISED_LISTENERS', value: `${listener}://$(MY_POD_NAME).${HEADLESS}:9092` },
  ]);
}

/** A chart on the official image: env `KAFKA_*`, the image's own command. */
function apacheImage({ listener, map, interBroker }: Layout): unknown[] {
  const container: Container = {
    name: 'kafka',
    image: 'apache/kafka:3.9.1',
    env: [
      POD_NAME_ENV,
      ...(interBroker ? [{ name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: interBroker }] : []),
      ...(map ? [{ name: 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP', value: map }] : []),
      { name: 'KAFKA_LISTENERS', value: `${listener}://:9092` },
      { name: 'KAFKA_ADVERTISED_LISTENERS', value: `${listener}://$(MY_POD_NAME).${HEADLESS}:9092` },
    ],
    ports: [{ name: 'kafka', containerPort: 9092 }],
  };
  return [podStatefulSet('kafka', labels, container)];
}

/** A chart on Confluent's image that exports the advertised list in its command (listeners derived). */
function confluentCommand({ listener, map, interBroker }: Layout): unknown[] {
  const container: Container = {
    name: 'kafka-broker',
    image: 'confluentinc/cp-kafka:7.6.1',
    command: [
      'sh',
      '-exc',
      `export KAFKA_BROKER_ID=\${HOSTNAME##*-} && export KAFKA_ADVERTISED_LISTENERS=${listener}://\${POD_IP}:9092 && exec /etc/confluent/docker/run`,
    ],
    env: [
      POD_IP,
      ...(interBroker ? [{ name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: interBroker }] : []),
      ...(map ? [{ name: 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP', value: map }] : []),
    ],
    ports: [{ name: 'kafka', containerPort: 9092 }],
  };
  return [podStatefulSet('kafka', labels, container)];
}

const FAMILIES: [string, string, (layout: Layout) => unknown[]][] = [
  ['env (bitnami image, KAFKA_CFG_*)', 'env', bitnamiImage],
  ['image env (apache/kafka, KAFKA_*)', 'image-env', apacheImage],
  ['command (Confluent image, exported in the script)', 'command', confluentCommand],
];

const statefulSetOf = (text: string): ReturnType<typeof mutateManifests>[number] | undefined =>
  mutateManifests(text, MUTATE_OPTIONS).find((d) => (d.object as StatefulSet | null)?.kind === 'StatefulSet');

for (const [family, recorded, render] of FAMILIES) {
  t.test(`${family}: a single inter-broker listener gets an EXTERNAL one on the node port`, (t) => {
    for (const layout of [
      { listener: 'PLAINTEXT' },
      { listener: 'INTERNAL', map: 'INTERNAL:PLAINTEXT', interBroker: 'INTERNAL' },
    ]) {
      const { text, objects } = manifestOf([...render(layout), KAFKA_CLIENT_SERVICE]);
      checkExposureEffect(t, text, objects, 'exposed');
      checkSecondPassIsEmpty(t, text);
      const sts = statefulSetOf(text);
      t.equal(sts?.result.exposure?.family, recorded);
      t.equal(sts?.result.exposure?.listener, 'EXTERNAL');
      t.equal(sts?.result.exposure?.containerPort, 31980, 'EXTERNAL binds the node port itself');
      t.match(JSON.stringify(sts?.result.patch), /EXTERNAL:PLAINTEXT/, 'and is in the protocol map');
    }
    t.end();
  });

  t.test(`${family}: never a PLAINTEXT EXTERNAL beside an SSL or SASL listener`, (t) => {
    for (const layout of [
      { listener: 'SASL_PLAINTEXT' },
      { listener: 'INTERNAL', map: 'INTERNAL:SSL', interBroker: 'INTERNAL' },
    ]) {
      const { text } = manifestOf([...render(layout), KAFKA_CLIENT_SERVICE]);
      const results = mutateManifests(text, MUTATE_OPTIONS);
      const sts = results.find((d) => (d.object as StatefulSet | null)?.kind === 'StatefulSet');
      t.equal(sts?.result.reason, 'unsupported-wiring');
      const protocol = layout.map ? 'SSL' : layout.listener;
      t.match(
        sts?.result.message,
        `listener ${layout.listener} is ${protocol}, and only a PLAINTEXT EXTERNAL listener can be added`,
      );
      t.same(
        results.map((d) => d.result.patch),
        results.map(() => []),
        'nothing is changed, the Service neither',
      );
    }
    t.end();
  });
}

t.test('env (bitnami image): the added listener follows the address type, like the rewritten ones', (t) => {
  const { text, objects } = manifestOf([...bitnamiImage({ listener: 'PLAINTEXT' }), KAFKA_CLIENT_SERVICE]);
  for (const [, addressing] of ADDRESSING_CASES) {
    checkExposureEffect(t, text, objects, 'exposed', addressing);
    checkSecondPassIsEmpty(t, text, addressing.settings);
  }
  t.end();
});

t.test('env (bitnami image): without a protocol map one is written under the name the image reads', (t) => {
  const sts = statefulSetOf(
    manifestOf([...bitnamiImage({ listener: 'PLAINTEXT' }), KAFKA_CLIENT_SERVICE]).text,
  );
  const added = sts?.result.patch.filter((op) => op.op === 'add').map((op) => op.value as unknown);
  t.match(added, [
    { name: 'KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP', value: 'PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT' },
  ]);
  t.end();
});
