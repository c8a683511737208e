/**
 * Which objects are Kafka brokers, judged by labels and container shape — never by chart name or
 * image, which users override (bitnamilegacy, nameOverride, private registries).
 */
import { NO_CONFIG_MAPS, type ConfigMaps } from './configMaps.ts';
import type { Container, EnvVar, PodSpec, StatefulSet } from './kubeTypes.ts';
import { runsKafkaStartScript } from './wiring/startScriptWiring.ts';

const ZOOKEEPER = /zookeeper/i;
const IDENTITY_LABELS = ['app', 'app.kubernetes.io/name', 'app.kubernetes.io/component', 'component', 'role'];

/** ZooKeeper shares the release's instance label, so it has to be ruled out explicitly. */
export function isZookeeper(labels: Record<string, string> | null | undefined): boolean {
  return IDENTITY_LABELS.some((key) => ZOOKEEPER.test(labels?.[key] ?? ''));
}

/** Text a container runs: its command and args joined, for shape checks. */
export function commandText(container: Container): string {
  return [...(container.command ?? []), ...(container.args ?? [])].join('\n');
}

const KAFKA_SCRIPT_MARKERS = [
  'KAFKA_ADVERTISED_LISTENERS=',
  'advertised.listeners=',
  'kafka-server-start',
  '/etc/confluent/docker/run',
  'advertised-address-placeholder',
  'libkafka.sh',
  'kafka-init.sh',
];

function hasKafkaEnv(container: Container): boolean {
  return (container.env ?? []).some((e) => e.name.startsWith('KAFKA_'));
}

function looksLikeKafka(container: Container): boolean {
  const text = commandText(container);
  return hasKafkaEnv(container) || KAFKA_SCRIPT_MARKERS.some((m) => text.includes(m));
}

/** ZooKeeper's StatefulSet, by its own labels or its pods'. */
export function isZookeeperStatefulSet(sts: StatefulSet): boolean {
  return isZookeeper({ ...sts.spec.template.metadata?.labels, ...sts.metadata?.labels });
}

/** A StatefulSet is Kafka when it is not ZooKeeper and one of its containers has Kafka's shape. */
export function isKafkaStatefulSet(sts: StatefulSet, configMaps: ConfigMaps = NO_CONFIG_MAPS): boolean {
  if (isZookeeperStatefulSet(sts)) return false;
  const spec = sts.spec.template.spec;
  // What runs may be a script from a ConfigMap that starts the broker.
  return (
    [...spec.containers, ...(spec.initContainers ?? [])].some(looksLikeKafka) ||
    runsKafkaStartScript(spec, configMaps)
  );
}

/** The broker container: the first regular container with Kafka's shape. */
export function brokerContainerIndex(spec: PodSpec): number {
  return spec.containers.findIndex(looksLikeKafka);
}

/** The effective definition of an env var: Kubernetes lets the last duplicate win. */
export function lastEnvIndex(env: EnvVar[] | null | undefined, name: string): number {
  if (!env) return -1;
  for (let i = env.length - 1; i >= 0; i--) if (env[i]?.name === name) return i;
  return -1;
}

/** Index of the effective definition of env var `name` when it is a literal string, else -1. */
export function literalEnvIndex(container: Container, name: string): number {
  const index = lastEnvIndex(container.env, name);
  return index >= 0 && typeof container.env?.[index]?.value === 'string' ? index : -1;
}

/** The literal value of an env var (null renders as empty); undefined when absent or from a source. */
export function envValue(container: Container, name: string): string | undefined {
  const entry = container.env?.[lastEnvIndex(container.env, name)];
  return entry === undefined || entry.valueFrom ? undefined : (entry.value ?? '');
}

/** Env var names defined from the downward API field `fieldPath`. */
export function downwardEnvNames(container: Container, fieldPath: string): string[] {
  return (container.env ?? [])
    .filter((e) => e.valueFrom?.fieldRef?.fieldPath === fieldPath)
    .map((e) => e.name);
}

/**
 * The chart's own per-broker external access — bitnami 24+ `externalAccess` (EXTERNAL_ACCESS_* env
 * on the init container) or cp-kafka `nodeport.enabled` (a `nodeport-<i>` container port per
 * broker): per-broker Services and per-broker advertised ports already work, so the webhook must
 * not fight them (SPEC §4 `already-exposed`).
 */
export function usesChartExternalAccess(spec: PodSpec): boolean {
  return [...spec.containers, ...(spec.initContainers ?? [])].some(
    (c) =>
      (c.env ?? []).some((e) => e.name.startsWith('EXTERNAL_ACCESS_')) ||
      (c.ports ?? []).some((p) => /^nodeport-\d+$/.test(p.name ?? '')),
  );
}
