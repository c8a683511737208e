/**
 * Which env names a broker's configuration is read from is decided by the image's entrypoint,
 * not by one naming scheme per family (src/core/wiring/kafkaEnvConfig.ts). bitnami's entrypoint
 * reads `KAFKA_CFG_*` and copies the legacy `KAFKA_*` names over them, so charts mix the two (and
 * where both are set, the legacy one wins); the official image reads `KAFKA_*` only, whatever
 * else the chart sets. Hand-made releases judged by effect (test/support/exposureEffect.ts): the
 * image stubs read env as the real entrypoints do.
 */
import t, { type Test } from 'tap';
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

const HEADLESS = '$(MY_POD_NAME).kafka-headless.kafka.svc.cluster.local';
const BITNAMI_ENTRYPOINT = ['/opt/bitnami/scripts/kafka/entrypoint.sh', '/opt/bitnami/scripts/kafka/run.sh'];

function exposedStatefulSet(
  t: Test,
  objects: unknown[],
): ReturnType<typeof mutateManifests>[number] | undefined {
  const { text } = manifestOf(objects);
  checkExposureEffect(t, text, objects, 'exposed');
  checkSecondPassIsEmpty(t, text);
  return mutateManifests(text, MUTATE_OPTIONS).find(
    (d) => (d.object as StatefulSet | null)?.kind === 'StatefulSet',
  );
}

/** The value the patch gives env entry `name` (a replace of its value, or an added entry). */
function patchedEnv(result: ReturnType<typeof mutateManifests>[number] | undefined, name: string): unknown[] {
  const sts = result?.object as StatefulSet | undefined;
  const env = sts?.spec.template.spec.containers[0]?.env ?? [];
  return (result?.result.patch ?? []).flatMap((op) => {
    if (op.op === 'replace' && op.path.endsWith('/value')) {
      const index = Number(op.path.split('/').at(-2));
      return env[index]?.name === name ? [op.value as unknown] : [];
    }
    const added = op.op === 'add' ? (op.value as EnvVar | undefined) : undefined;
    return added?.name === name ? [added.value] : [];
  });
}

t.test(
  'bitnami image: KAFKA_CFG_LISTENERS with KAFKA_ADVERTISED_LISTENERS, the CLIENT entry is advertised on the node',
  (t) => {
    const objects = [
      ...bitnamiImageRelease([
        { name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: 'INTERNAL' },
        { name: 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP', value: 'INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT' },
        { name: 'KAFKA_CFG_LISTENERS', value: 'INTERNAL://:9093,CLIENT://:9092' },
        {
          name: 'KAFKA_ADVERTISED_LISTENERS',
          value: `INTERNAL://${HEADLESS}:9093,CLIENT://${HEADLESS}:9092`,
        },
      ]),
      KAFKA_CLIENT_SERVICE,
    ];
    const sts = exposedStatefulSet(t, objects);
    t.equal(sts?.result.exposure?.family, 'env');
    t.equal(sts?.result.exposure?.listener, 'CLIENT');
    t.same(patchedEnv(sts, 'KAFKA_ADVERTISED_LISTENERS'), [
      `INTERNAL://${HEADLESS}:9093,CLIENT://$(MY_HOST_IP):31980`,
    ]);
    for (const [, addressing] of ADDRESSING_CASES) {
      const { text } = manifestOf(objects);
      checkExposureEffect(t, text, objects, 'exposed', addressing);
      checkSecondPassIsEmpty(t, text, addressing.settings);
    }
    t.end();
  },
);

t.test(
  'bitnami image run by its own entrypoint: a mixed single listener gets EXTERNAL in the names it reads',
  (t) => {
    const sts = exposedStatefulSet(t, [
      ...bitnamiImageRelease(
        [
          { name: 'KAFKA_CFG_LISTENERS', value: 'PLAINTEXT://:9092' },
          { name: 'KAFKA_ADVERTISED_LISTENERS', value: `PLAINTEXT://${HEADLESS}:9092` },
        ],
        BITNAMI_ENTRYPOINT,
      ),
      KAFKA_CLIENT_SERVICE,
    ]);
    t.equal(sts?.result.exposure?.listener, 'EXTERNAL');
    t.same(patchedEnv(sts, 'KAFKA_CFG_LISTENERS'), ['PLAINTEXT://:9092,EXTERNAL://:31980']);
    t.same(patchedEnv(sts, 'KAFKA_ADVERTISED_LISTENERS'), [
      `PLAINTEXT://${HEADLESS}:9092,EXTERNAL://$(MY_HOST_IP):31980`,
    ]);
    t.same(patchedEnv(sts, 'KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP'), [
      'PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT',
    ]);
    t.end();
  },
);

t.test(
  'bitnami image with both spellings set: the legacy one, which wins, is rewritten; the other is kept',
  (t) => {
    const cfg = `INTERNAL://${HEADLESS}:9093,CLIENT://${HEADLESS}:9092`;
    const sts = exposedStatefulSet(t, [
      ...bitnamiImageRelease([
        { name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: 'INTERNAL' },
        { name: 'KAFKA_CFG_LISTENERS', value: 'INTERNAL://:9093,CLIENT://:9092' },
        { name: 'KAFKA_CFG_ADVERTISED_LISTENERS', value: cfg },
        {
          name: 'KAFKA_ADVERTISED_LISTENERS',
          value: `INTERNAL://${HEADLESS}:9093,CLIENT://kafka.example:9092`,
        },
      ]),
      KAFKA_CLIENT_SERVICE,
    ]);
    t.same(
      patchedEnv(sts, 'KAFKA_CFG_ADVERTISED_LISTENERS'),
      [],
      'the one the image overrides is left as set',
    );
    t.same(patchedEnv(sts, 'KAFKA_ADVERTISED_LISTENERS'), [
      `INTERNAL://${HEADLESS}:9093,CLIENT://$(MY_HOST_IP):31980`,
    ]);
    t.end();
  },
);

t.test('official image: KAFKA_CFG_* set beside KAFKA_* is not read by it, and not used', (t) => {
  const container: Container = {
    name: 'kafka',
    image: 'apache/kafka:3.9.1',
    env: [
      POD_NAME_ENV,
      { name: 'KAFKA_CFG_LISTENERS', value: 'PLAINTEXT://:9999' },
      { name: 'KAFKA_LISTENERS', value: 'PLAINTEXT://:9092' },
      { name: 'KAFKA_ADVERTISED_LISTENERS', value: `PLAINTEXT://${HEADLESS}:9092` },
    ],
    ports: [{ name: 'kafka', containerPort: 9092 }],
  };
  const labels = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };
  const sts = exposedStatefulSet(t, [podStatefulSet('kafka', labels, container), KAFKA_CLIENT_SERVICE]);
  t.equal(sts?.result.exposure?.family, 'image-env');
  t.same(patchedEnv(sts, 'KAFKA_LISTENERS'), ['PLAINTEXT://:9092,EXTERNAL://:31980']);
  t.same(patchedEnv(sts, 'KAFKA_CFG_LISTENERS'), []);
  t.same(patchedEnv(sts, 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP'), ['PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT']);
  t.end();
});
