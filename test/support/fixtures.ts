/** Small hand-made objects for behaviour the corpus does not show. */
import { stringify } from 'yaml';
import type { Container, EnvVar, Service, StatefulSet, Volume } from '../../src/core/kubeTypes.ts';

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

const RELEASE_LABELS = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };
export const POD_NAME_ENV: EnvVar = {
  name: 'MY_POD_NAME',
  valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
};

/** A setup script in bitnami's manner: the broker id from the pod's ordinal, then the image's entrypoint. */
const BITNAMI_SETUP_SCRIPT = `#!/bin/bash
set -e
ID="\${MY_POD_NAME##*-}"
export KAFKA_CFG_BROKER_ID="$ID"
exec /entrypoint.sh /run.sh
`;

/**
 * A release on bitnami's image with listener settings `env`: started by a setup script from a
 * ConfigMap (as bitnami's own charts do), or with `command` (e.g. the image's entrypoint).
 */
export function bitnamiImageRelease(env: EnvVar[], command?: string[]): unknown[] {
  const container: Container = {
    name: 'kafka',
    image: 'registry.example/bitnami/kafka:3.4.0',
    command: command ?? ['/scripts/setup.sh'],
    env: [POD_NAME_ENV, ...env, { name: 'ALLOW_PLAINTEXT_LISTENER', value: 'yes' }],
    ports: [{ name: 'kafka', containerPort: 9092 }],
    ...(command
      ? {}
      : { volumeMounts: [{ name: 'scripts', mountPath: '/scripts/setup.sh', subPath: 'setup.sh' }] }),
  };
  if (command) return [podStatefulSet('kafka', RELEASE_LABELS, container)];
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'kafka-scripts' },
      data: { 'setup.sh': BITNAMI_SETUP_SCRIPT },
    },
    podStatefulSet('kafka', RELEASE_LABELS, container, [
      { name: 'scripts', configMap: { name: 'kafka-scripts' } },
    ]),
  ];
}

/** The release's client Service, reaching the brokers' `kafka` port. */
export const KAFKA_CLIENT_SERVICE: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'kafka', namespace: 'kafka', labels: RELEASE_LABELS },
  spec: { selector: RELEASE_LABELS, ports: [{ name: 'tcp-client', port: 9092, targetPort: 'kafka' }] },
};

/** Objects as one manifest, written as YAML 1.1 the way Helm and kubectl read it (`yes` stays a string). */
export function manifestOf(objects: unknown[]): { text: string; objects: unknown[] } {
  return { text: objects.map((o) => `---\n${stringify(o, { version: '1.1' })}`).join(''), objects };
}
