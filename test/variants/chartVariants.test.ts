/**
 * SPEC §3–4 beyond the rendered corpus: value variants of the charts in ../shared/charts rendered
 * with a real `helm template` (the helm the end-to-end tier builds from Go modules), each judged by
 * effect like the corpus (test/support/exposureEffect.ts).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { CHARTS_DIR, corpusMissing } from '../support/corpus.ts';
import { checkExposureEffect, checkSecondPassIsEmpty } from '../support/exposureEffect.ts';

interface Variant {
  chart: string;
  values: string[];
  expect: 'exposed' | 'already-exposed';
  why: string;
}

const SEED_LISTENERS = [
  '--set',
  'listeners=INTERNAL://:9093\\,CLIENT://:9092\\,OUTSIDE://:9094',
  '--set',
  'advertisedListeners=INTERNAL://$(MY_POD_NAME).my-kafka-headless.kafka.svc.cluster.local:9093\\,CLIENT://$(MY_POD_NAME).my-kafka-headless.kafka.svc.cluster.local:9092\\,OUTSIDE://1.1.1.1:9094',
  '--set',
  'listenerSecurityProtocolMap=INTERNAL:PLAINTEXT\\,CLIENT:PLAINTEXT\\,OUTSIDE:PLAINTEXT',
];

const VARIANTS: Variant[] = [
  {
    chart: 'bitnami-kafka-12.9.5',
    values: ['--set', 'replicaCount=3,nameOverride=streams'],
    expect: 'exposed',
    why: 'nameOverride changes app.kubernetes.io/name',
  },
  {
    chart: 'bitnami-kafka-12.9.5',
    values: ['--set', 'replicaCount=3,fullnameOverride=events'],
    expect: 'exposed',
    why: 'fullnameOverride renames every object',
  },
  {
    chart: 'bitnami-kafka-12.9.5',
    values: ['--set', 'replicaCount=3', ...SEED_LISTENERS],
    expect: 'exposed',
    why: 'the seed: one fixed OUTSIDE://1.1.1.1:9094 for every broker',
  },
  {
    chart: 'bitnami-kafka-12.9.5',
    values: [
      '--set',
      'replicaCount=3,externalAccess.enabled=true,externalAccess.service.type=LoadBalancer',
      '--set',
      'externalAccess.service.loadBalancerIPs={1.1.1.1,1.1.1.2,1.1.1.3}',
    ],
    expect: 'exposed',
    why: 'the setup script exports the listeners itself (LoadBalancer externalAccess)',
  },
  {
    chart: 'bitnami-kafka-14.8.1',
    values: ['--set', 'replicaCount=3,metrics.jmx.enabled=true,metrics.kafka.enabled=true'],
    expect: 'exposed',
    why: 'a JMX exporter sidecar and metrics Services',
  },
  {
    chart: 'bitnami-kafka-21.4.6',
    values: ['--set', 'replicaCount=3,kraft.enabled=true,zookeeper.enabled=false'],
    expect: 'exposed',
    why: 'KRaft with a CONTROLLER listener',
  },
  {
    chart: 'bitnami-kafka-21.4.6',
    values: ['--set', 'replicaCount=3,service.type=NodePort'],
    expect: 'exposed',
    why: 'the client Service is already a NodePort',
  },
  {
    chart: 'bitnami-kafka-22.1.6',
    values: [
      '--set',
      'replicaCount=3,externalAccess.enabled=true,externalAccess.service.type=ClusterIP,externalAccess.service.domain=kafka.example',
    ],
    expect: 'exposed',
    why: 'ClusterIP externalAccess: the script exports EXTERNAL, the client Service has an external port',
  },
  {
    chart: 'bitnami-kafka-24.0.14',
    values: [
      '--set',
      'listeners.client.protocol=PLAINTEXT,listeners.client.name=MYCLIENT,listeners.client.containerPort=19092',
    ],
    expect: 'exposed',
    why: 'a renamed client listener on another port',
  },
  {
    chart: 'bitnami-kafka-26.11.4',
    values: ['--set', 'broker.replicaCount=2'],
    expect: 'exposed',
    why: 'brokers in both StatefulSets',
  },
  {
    chart: 'bitnami-kafka-30.1.8',
    values: ['--set', 'metrics.jmx.enabled=true,nameOverride=streams'],
    expect: 'exposed',
    why: 'JMX sidecar and nameOverride',
  },
  {
    chart: 'bitnami-kafka-32.4.4',
    values: [
      '--set',
      'externalAccess.enabled=true,externalAccess.controller.service.type=LoadBalancer',
      '--set',
      'externalAccess.controller.service.loadBalancerIPs={1.1.1.1,1.1.1.2,1.1.1.3}',
    ],
    expect: 'already-exposed',
    why: "the chart's own per-broker LoadBalancers",
  },
  {
    chart: 'cp-helm-charts-cp-kafka-0.6.1',
    values: ['--set', 'brokers=4'],
    expect: 'exposed',
    why: 'four brokers',
  },
  {
    chart: 'cp-helm-charts-cp-kafka-0.6.1',
    values: ['--set', 'nodeport.enabled=true'],
    expect: 'already-exposed',
    why: "the chart's own per-broker NodePorts",
  },
  {
    chart: 'helm-charts-incubator-kafka-0.21.5',
    values: ['--set', 'external.enabled=true'],
    expect: 'exposed',
    why: 'per-broker external Services without an external listener',
  },
  {
    chart: 'cloudpirates-helm-charts-kafka-0.1.4',
    values: ['--set', 'replicaCount=5'],
    expect: 'exposed',
    why: 'five brokers',
  },
];

/** The helm binary `npm run setup` built; builds nothing (fails at once naming the set-up). */
function helmBinary(): string {
  const script = new URL('../e2e/build-binaries.sh', import.meta.url).pathname;
  const binDir = execFileSync('bash', [script, '--check'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return join(binDir, 'helm');
}

const missing = corpusMissing();
if (missing) t.test('chart variants', { skip: missing }, (t) => t.end());
else {
  const helm = helmBinary();
  for (const variant of VARIANTS) {
    const name = `${variant.chart} ${variant.values.filter((v) => v !== '--set').join(' ')}`;
    t.test(`${name} (${variant.why}): ${variant.expect}`, (t) => {
      const text = execFileSync(
        helm,
        ['template', 'my-kafka', join(CHARTS_DIR, variant.chart), '--namespace', 'kafka', ...variant.values],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      const objects = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS() as unknown);
      checkExposureEffect(t, text, objects, variant.expect);
      checkSecondPassIsEmpty(t, text);
      t.end();
    });
  }
}
