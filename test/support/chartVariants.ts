/**
 * Value variants of the charts in ../shared/charts, beyond the rendered corpus: rendered and judged
 * by effect in test/variants, installed through the webhook in test/e2e.
 */

export interface ValueVariant {
  chart: string;
  values: string[];
  expect: 'exposed' | 'already-exposed';
  why: string;
}

/** The story's own values for release `my-kafka` in namespace `kafka` (bitnami 12.x string syntax). */
export const SEED_LISTENERS = [
  '--set',
  'listeners=INTERNAL://:9093\\,CLIENT://:9092\\,OUTSIDE://:9094',
  '--set',
  'advertisedListeners=INTERNAL://$(MY_POD_NAME).my-kafka-headless.kafka.svc.cluster.local:9093\\,CLIENT://$(MY_POD_NAME).my-kafka-headless.kafka.svc.cluster.local:9092\\,OUTSIDE://1.1.1.1:9094',
  '--set',
  'listenerSecurityProtocolMap=INTERNAL:PLAINTEXT\\,CLIENT:PLAINTEXT\\,OUTSIDE:PLAINTEXT',
];

export const VALUE_VARIANTS: ValueVariant[] = [
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
    expect: 'already-exposed',
    why: "the chart's own per-broker LoadBalancers with fixed IPs (the setup script exports each broker's)",
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
    expect: 'already-exposed',
    why: "ClusterIP externalAccess: every broker advertises the chart's domain on its own port (9094 + ordinal)",
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
