/** Small hand-made objects for behaviour the corpus does not show. */
import type { Container, Service, StatefulSet, Volume } from '../../src/core/kubeTypes.ts';

export function envStatefulSet(
  advertised: string,
  extraEnv: { name: string; value: string }[] = [],
): StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: 'kafka',
      namespace: 'kafka',
      labels: { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' } },
        spec: {
          containers: [
            {
              name: 'kafka',
              image: 'registry.example/kafka:1',
              command: ['/scripts/setup.sh'],
              env: [
                { name: 'MY_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: 'INTERNAL' },
                { name: 'KAFKA_CFG_LISTENERS', value: 'INTERNAL://:9093,CLIENT://:9092,OUTSIDE://:9094' },
                { name: 'KAFKA_CFG_ADVERTISED_LISTENERS', value: advertised },
                ...extraEnv,
              ],
              ports: [
                { name: 'kafka-client', containerPort: 9092 },
                { name: 'kafka-internal', containerPort: 9093 },
              ],
            },
          ],
        },
      },
    },
  };
}

export function clientService(ports: Service['spec']['ports']): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kafka', namespace: 'kafka', labels: { 'app.kubernetes.io/name': 'kafka' } },
    spec: {
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' },
      ports,
    },
  };
}

/** Three pods labelled `podLabels` in namespace kafka, each running `container` (and `volumes`). */
export function podStatefulSet(
  name: string,
  podLabels: Record<string, string>,
  container: Container,
  volumes?: Volume[],
): StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: 'kafka', labels: podLabels },
    spec: {
      replicas: 3,
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels },
        spec: { containers: [container], ...(volumes ? { volumes } : {}) },
      },
    },
  };
}
