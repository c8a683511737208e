/**
 * The start-script-render family (src/core/wiring/startScriptWiring.ts) on hand-made releases
 * shaped like charts on the official apache/kafka image: a ConfigMap script writes a properties
 * file and starts the broker with `kafka-server-start.sh <file>`. Judged by effect
 * (test/support/exposureEffect.ts): the chart's script and ours run for real, with the image's
 * kafka-server-start.sh a stub that prints the file it was given.
 */
import t from 'tap';
import { stringify } from 'yaml';
import { mutateManifests } from '../../src/cli/manifests.ts';
import { ANNOTATION_PREFIX } from '../../src/core/config.ts';
import type { Service, StatefulSet } from '../../src/core/kubeTypes.ts';
import { checkExposureEffect, checkSecondPassIsEmpty, MUTATE_OPTIONS } from '../support/exposureEffect.ts';
import { podStatefulSet } from '../support/fixtures.ts';

const labels = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };

/** A script in the manner of such charts: the pod's ordinal picks its id, then the broker starts. */
function startScript(listeners: string, advertised: string): string {
  return `#!/bin/sh
set -eu
id="\${HOSTNAME##*-}"
conf=/tmp/kafka/server.properties
mkdir -p /tmp/kafka
{
  echo "node.id=$id"
  echo "process.roles=broker,controller"
  echo "listeners=${listeners}"
  echo "advertised.listeners=${advertised}"
  echo "listener.security.protocol.map=CLIENT:PLAINTEXT,OUTSIDE:PLAINTEXT,CONTROLLER:PLAINTEXT"
} > "$conf"
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
`;
}

function configMap(script: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kafka-scripts' },
    data: { 'run.sh': script },
  };
}

function statefulSet(ports: number[], component = 'broker'): StatefulSet {
  return podStatefulSet(
    `kafka-${component}`,
    { ...labels, 'app.kubernetes.io/component': component },
    {
      name: 'kafka',
      image: 'apache/kafka:4.3.1',
      command: ['/bin/sh', '-ec', '/opt/chart/scripts/run.sh'],
      ports: ports.map((containerPort) => ({ name: `p${String(containerPort)}`, containerPort })),
      volumeMounts: [{ name: 'scripts', mountPath: '/opt/chart/scripts', readOnly: true }],
    },
    [{ name: 'scripts', configMap: { name: 'kafka-scripts' } }],
  );
}

function service(targetPort: number, component = 'broker'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kafka', namespace: 'kafka', labels },
    spec: {
      selector: { ...labels, 'app.kubernetes.io/component': component },
      ports: [{ port: 9092, targetPort }],
    },
  };
}

const kindOf = (object: unknown): unknown => (object as { kind?: unknown }).kind;

function manifest(objects: unknown[]): { text: string; objects: unknown[] } {
  return { text: objects.map((o) => `---\n${stringify(o)}`).join(''), objects };
}

const CLIENT_ONLY = startScript(
  'CLIENT://:9092,CONTROLLER://:9093',
  'CLIENT://$(hostname).kafka-headless:9092',
);

t.test('the CLIENT listener the script binds is advertised on the node, behind the client Service', (t) => {
  const { text, objects } = manifest([configMap(CLIENT_ONLY), service(9092), statefulSet([9092, 9093])]);
  checkExposureEffect(t, text, objects, 'exposed');
  checkSecondPassIsEmpty(t, text);
  const sts = mutateManifests(text, MUTATE_OPTIONS).find((m) => kindOf(m.object) === 'StatefulSet');
  t.equal(sts?.result.exposure?.family, 'start-script-render');
  t.equal(sts?.result.exposure?.containerPort, 9092);
  t.end();
});

t.test('a listener facing the outside (OUTSIDE) is preferred over CLIENT', (t) => {
  const script = startScript(
    'CLIENT://:9092,OUTSIDE://:9094,CONTROLLER://:9093',
    'CLIENT://$(hostname).kafka-headless:9092,OUTSIDE://1.1.1.1:9094',
  );
  const { text, objects } = manifest([configMap(script), service(9092), statefulSet([9092, 9093, 9094])]);
  checkExposureEffect(t, text, objects, 'exposed');
  const results = mutateManifests(text, MUTATE_OPTIONS);
  t.equal(results.find((m) => kindOf(m.object) === 'StatefulSet')?.result.exposure?.listener, 'OUTSIDE');
  // The Service had no port to OUTSIDE: one is added, to its bind port.
  t.match(
    JSON.stringify(results.find((m) => kindOf(m.object) === 'Service')?.result.patch),
    /"targetPort":9094/,
  );
  t.end();
});

t.test(
  'a pod that declares no port for the listener (a KRaft controller) is left alone, and so is its Service',
  (t) => {
    const { text } = manifest([
      configMap(CLIENT_ONLY),
      service(9093, 'controller'),
      statefulSet([9093], 'controller'),
    ]);
    const results = mutateManifests(text, MUTATE_OPTIONS);
    const sts = results.find((m) => kindOf(m.object) === 'StatefulSet');
    t.equal(sts?.result.reason, 'not-a-broker');
    t.match(
      sts?.result.message,
      /declares no port 9092 for listener CLIENT of \/opt\/chart\/scripts\/run\.sh/,
    );
    t.same(
      results.map((m) => m.result.patch),
      results.map(() => []),
    );
    t.end();
  },
);

t.test(
  'without its ConfigMap, or a named listener the script does not bind: unchanged, saying what was found',
  (t) => {
    // With Kafka's shape (a KAFKA_* env) but its ConfigMap out of view, the script cannot be read.
    const shaped = statefulSet([9092]);
    const [container] = shaped.spec.template.spec.containers;
    if (container) container.env = [{ name: 'KAFKA_HEAP_OPTS', value: '-Xmx1g' }];
    const alone = mutateManifests(manifest([shaped]).text, MUTATE_OPTIONS)[0];
    t.equal(alone?.result.reason, 'unsupported-wiring');
    t.match(
      alone?.result.message,
      /start script \/opt\/chart\/scripts\/run\.sh is in ConfigMap kafka-scripts, which is not in view/,
    );

    const named = mutateManifests(manifest([configMap(CLIENT_ONLY), statefulSet([9092])]).text, {
      ...MUTATE_OPTIONS,
      namespaceAnnotations: { [`${ANNOTATION_PREFIX}listener`]: 'EXTERNAL' },
    }).find((m) => kindOf(m.object) === 'StatefulSet');
    t.equal(named?.result.reason, 'unsupported-wiring');
    t.match(named?.result.message, /binds listeners CLIENT, CONTROLLER; no EXTERNAL/);
    t.end();
  },
);

t.test('a ConfigMap script that never starts kafka-server-start.sh is not this family', (t) => {
  const other = configMap('#!/bin/sh\nexec /usr/bin/java -jar /app/ui.jar\n');
  const [, sts] = mutateManifests(manifest([other, statefulSet([9092])]).text, MUTATE_OPTIONS);
  t.equal(sts?.result.reason, 'not-kafka', 'what runs is not a broker');
  t.equal(sts?.result.patch.length, 0);
  t.end();
});

/**
 * A start script in the manner of wurstmeister-style images: every KAFKA_* env var but the
 * launcher's own becomes a broker property (KAFKA_FOO_BAR → foo.bar), then the broker starts.
 */
const ENV_RENDERING_SCRIPT = `#!/bin/bash
set -e
conf=/tmp/server.properties
: > "$conf"
export KAFKA_BROKER_ID="\${HOSTNAME##*-}"
for var in $(compgen -e); do
  case "$var" in
    KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_HOME | KAFKA_VERSION) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  key=$(printf '%s' "\${var#KAFKA_}" | tr '[:upper:]' '[:lower:]' | tr _ .)
  printf '%s=%s\\n' "$key" "\${!var}" >> "$conf"
done
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
`;

function envRenderedRelease(env: { name: string; value: string }[]): { text: string; objects: unknown[] } {
  const sts = podStatefulSet(
    'kafka',
    { ...labels, 'app.kubernetes.io/component': 'broker' },
    {
      name: 'kafka',
      image: 'registry.example/kafka:2.8.1',
      command: ['/tmp/kafka.sh'],
      env: [
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'KAFKA_HEAP_OPTS', value: '-Xmx1g' },
        ...env,
      ],
      ports: [{ name: 'kafka', containerPort: 9092 }],
      volumeMounts: [{ name: 'scripts', mountPath: '/tmp/kafka.sh', subPath: 'kafka.sh' }],
    },
    [{ name: 'scripts', configMap: { name: 'kafka-scripts' } }],
  );
  const scripts = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kafka-scripts' },
    data: { 'kafka.sh': ENV_RENDERING_SCRIPT },
  };
  return manifest([scripts, sts, service(9092)]);
}

t.test(
  'a ConfigMap script that renders KAFKA_* env into the file: the env is edited, before it runs',
  (t) => {
    for (const [layout, env, listener] of [
      [
        'CLIENT beside the inter-broker listener',
        [
          { name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: 'INTERNAL' },
          { name: 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP', value: 'INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT' },
          { name: 'KAFKA_LISTENERS', value: 'INTERNAL://:9093,CLIENT://:9092' },
          { name: 'KAFKA_ADVERTISED_LISTENERS', value: 'INTERNAL://$(POD_IP):9093,CLIENT://$(POD_IP):9092' },
        ],
        'CLIENT',
      ],
      [
        'only the inter-broker listener',
        [
          { name: 'KAFKA_LISTENERS', value: 'PLAINTEXT://:9092' },
          { name: 'KAFKA_ADVERTISED_LISTENERS', value: 'PLAINTEXT://$(POD_IP):9092' },
        ],
        'EXTERNAL',
      ],
    ] as const) {
      const { text, objects } = envRenderedRelease([...env]);
      checkExposureEffect(t, text, objects, 'exposed');
      checkSecondPassIsEmpty(t, text);
      const sts = mutateManifests(text, MUTATE_OPTIONS).find((m) => kindOf(m.object) === 'StatefulSet');
      t.equal(sts?.result.exposure?.family, 'image-env', layout);
      t.equal(sts?.result.exposure?.listener, listener, layout);
    }
    t.end();
  },
);

t.test(
  'a ConfigMap script reading env, with no advertised listeners in it: unchanged, saying what was found',
  (t) => {
    const { text } = envRenderedRelease([{ name: 'KAFKA_LISTENERS', value: 'PLAINTEXT://:9092' }]);
    const sts = mutateManifests(text, MUTATE_OPTIONS).find((m) => kindOf(m.object) === 'StatefulSet');
    t.equal(sts?.result.reason, 'unsupported-wiring');
    t.match(sts?.result.message, /start script \/tmp\/kafka\.sh binds listeners none/);
    t.same(sts?.result.patch, []);
    t.end();
  },
);
