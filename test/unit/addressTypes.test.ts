/**
 * SPEC §2 `address-type` and `advertised-hosts`, judged by effect on every render in the corpus
 * (incoming included): each broker pod starts in simulation on a node of
 * test/support/nodeAddressing.ts and must advertise the address the fallback order gives for its
 * node, or its override; every other listener is unchanged; a second pass changes nothing.
 */
import t from 'tap';
import { mutateManifests, renderManifests } from '../../src/cli/manifests.ts';
import type { StatefulSet } from '../../src/core/kubeTypes.ts';
import { startBroker } from '../support/containerStart.ts';
import { corpusMissing, renderedCharts } from '../support/corpus.ts';
import { checkExposureEffect, checkSecondPassIsEmpty, MUTATE_OPTIONS } from '../support/exposureEffect.ts';
import { envStatefulSet, podStatefulSet } from '../support/fixtures.ts';
import { ADDRESSING_CASES, EXTERNAL_IP } from '../support/nodeAddressing.ts';
import { stringify } from 'yaml';

const withSettings = (settings: Record<string, string>): typeof MUTATE_OPTIONS => ({
  ...MUTATE_OPTIONS,
  defaults: { ...MUTATE_OPTIONS.defaults, ...settings },
});
const mutatedStatefulSet = (sts: StatefulSet, settings: Record<string, string>): StatefulSet => {
  const [document] = mutateManifests(
    renderManifests(mutateManifests(`---\n${stringify(sts)}`, withSettings(settings))),
    withSettings(settings),
  );
  return document?.object as StatefulSet;
};

const missing = corpusMissing();
if (missing) t.test('chart corpus', { skip: missing }, (t) => t.end());

for (const chart of renderedCharts().filter((c) => !c.name.includes('extNodePort'))) {
  for (const [label, addressing] of ADDRESSING_CASES) {
    t.test(`${chart.name}, ${label}: every broker advertises its expected address`, (t) => {
      checkExposureEffect(t, chart.text, chart.objects, 'exposed', addressing);
      checkSecondPassIsEmpty(t, chart.text, addressing.settings);
      t.end();
    });
  }
}

t.test('back to InternalIP: the prelude, and only it, is removed from the broker command', (t) => {
  const original = envStatefulSet('CLIENT://kafka-0.kafka-headless:9092');
  const external = mutatedStatefulSet(original, EXTERNAL_IP.settings);
  t.not(
    external.spec.template.spec.containers[0]?.command,
    original.spec.template.spec.containers[0]?.command,
  );
  const [back] = mutateManifests(`---\n${stringify(external)}`, MUTATE_OPTIONS);
  const command = (back?.result.patch ?? []).find((op) => op.path.endsWith('/command'));
  t.same(command && 'value' in command ? command.value : undefined, ['/scripts/setup.sh']);
  t.end();
});

t.test('a broker whose node is not in the map fails at start, naming its node and the ConfigMap', (t) => {
  const sts = envStatefulSet('CLIENT://kafka-0.kafka-headless:9092', [
    { name: 'KAFKA_NODEPORT_INJECTOR_NODE_WAIT_SECONDS', value: '0' },
  ]);
  const mutated = mutatedStatefulSet(sts, EXTERNAL_IP.settings);
  const facts = { namespace: 'kafka', hostIP: '10.0.0.20', podIP: '10.244.0.9', nodeName: 'node-new' };
  t.throws(
    () => startBroker([...EXTERNAL_IP.extraObjects], mutated, 0, facts),
    /node node-new has no entry in ConfigMap kafka-nodeport-injector-node-addresses after 0 s/,
  );
  t.end();
});

t.test('an image whose default command is unknown takes no prelude: unchanged, saying why', (t) => {
  const labels = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/component': 'broker' };
  const sts = podStatefulSet('kafka', labels, {
    name: 'kafka',
    image: 'registry.example/own-kafka:1',
    env: [
      { name: 'KAFKA_LISTENERS', value: 'CLIENT://:9092,INTERNAL://:9093' },
      { name: 'KAFKA_ADVERTISED_LISTENERS', value: 'CLIENT://kafka:9092,INTERNAL://kafka:9093' },
      { name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: 'INTERNAL' },
    ],
    ports: [{ name: 'client', containerPort: 9092 }],
  });
  const [result] = mutateManifests(`---\n${stringify(sts)}`, withSettings(EXTERNAL_IP.settings));
  t.equal(result?.result.decision, 'unchanged');
  t.equal(result?.result.reason, 'unsupported-wiring');
  t.match(
    result?.result.message,
    /default command of image registry\.example\/own-kafka:1.*address-type InternalIP/,
  );
  t.end();
});
