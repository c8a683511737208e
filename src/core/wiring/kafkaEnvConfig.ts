/**
 * Kafka's listener configuration as an image's entrypoint reads it from env: the names, precedence
 * and defaults that the env, image-env and command families share.
 *
 * Which names are read is a property of the entrypoint, not of a chart's naming habit:
 * - the official apache/kafka and Confluent images (and wurstmeister-style start scripts) turn
 *   every `KAFKA_FOO_BAR` into `foo.bar`;
 * - bitnami's entrypoint turns `KAFKA_CFG_FOO_BAR` into `foo.bar`, and first copies a set of legacy
 *   names over them (`kafka_create_alias_environment_variables` in its libkafka.sh: when
 *   `KAFKA_ADVERTISED_LISTENERS` is defined at all, it becomes `KAFKA_CFG_ADVERTISED_LISTENERS`).
 *   So a chart may mix `KAFKA_CFG_LISTENERS` with `KAFKA_ADVERTISED_LISTENERS`, and where both
 *   spellings are set, the legacy one wins.
 * The `KAFKA_CFG_` prefix is bitnami's own: a chart sets it only for an image that reads it.
 */
import { findListener, type Listener } from '../advertisedListeners.ts';
import { imageDefaultCommand } from '../advertisedHost.ts';
import { appendEnvVar } from '../downwardEnv.ts';
import type { Container, StatefulSet } from '../kubeTypes.ts';
import { pointer, type PatchBuilder } from '../patchBuilder.ts';
import { commandText, lastEnvIndex } from '../recognizeKafka.ts';

/** The listener added when a broker has none that may face the outside. */
export const ADDED_LISTENER = 'EXTERNAL';
export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];

export type EnvDialect = 'bitnami' | 'kafka';

/** The broker settings the webhook reads or writes, by their env suffix. */
export type ListenerSetting =
  | 'ADVERTISED_LISTENERS'
  | 'LISTENERS'
  | 'LISTENER_SECURITY_PROTOCOL_MAP'
  | 'INTER_BROKER_LISTENER_NAME'
  | 'CONTROLLER_LISTENER_NAMES'
  | 'PROCESS_ROLES';

/** The legacy names bitnami's entrypoint copies over `KAFKA_CFG_*` (its alias list). */
const BITNAMI_ALIASED: ReadonlySet<ListenerSetting> = new Set<ListenerSetting>([
  'ADVERTISED_LISTENERS',
  'LISTENERS',
  'LISTENER_SECURITY_PROTOCOL_MAP',
  'INTER_BROKER_LISTENER_NAME',
  'PROCESS_ROLES',
]);

/** Where the entrypoint takes one setting from: the env entry that wins. */
export interface SettingSource {
  name: string;
  index: number;
  /** The literal value; undefined when it comes from a Secret, ConfigMap or field reference. */
  value: string | undefined;
}

/** The listener settings of one container, as its image's entrypoint will read them. */
export interface KafkaEnv {
  dialect: EnvDialect;
  /** The effective definition of `setting`, or undefined when the chart does not set it. */
  source(setting: ListenerSetting): SettingSource | undefined;
  /** The literal value of `setting`, or undefined when unset or not literal. */
  value(setting: ListenerSetting): string | undefined;
  /** The env name to define `setting` under when the chart has not set it. */
  nameFor(setting: ListenerSetting): string;
}

/** Entrypoints whose reading of env is known, by how a container's command calls them. */
const KNOWN_ENTRYPOINTS: { runs: RegExp; dialect: EnvDialect }[] = [
  { runs: /\/etc\/(confluent|kafka)\/docker\/(run|configure|launch)\b/, dialect: 'kafka' },
  { runs: /(^|[\s;&|"'])\/entrypoint\.sh\b|\/opt\/bitnami\/scripts\/kafka\//, dialect: 'bitnami' },
];

/**
 * Which names the container's entrypoint reads: told by the entrypoint its command (or its image's
 * default command) runs when that is a known one, else by the chart's own names, since only
 * bitnami's entrypoint reads `KAFKA_CFG_*` (a chart script such as bitnami's setup.sh ends in it).
 */
export function envDialect(container: Container): EnvDialect {
  const own = commandText(container);
  const runs = own === '' ? (imageDefaultCommand(container.image) ?? []).join(' ') : own;
  const known = KNOWN_ENTRYPOINTS.find((entrypoint) => entrypoint.runs.test(runs));
  if (known) return known.dialect;
  return (container.env ?? []).some((e) => e.name.startsWith('KAFKA_CFG_')) ? 'bitnami' : 'kafka';
}

/** The env names the entrypoint reads `setting` from, the one that wins first. */
function readOrder(dialect: EnvDialect, setting: ListenerSetting): string[] {
  if (dialect === 'kafka') return [`KAFKA_${setting}`];
  return BITNAMI_ALIASED.has(setting)
    ? [`KAFKA_${setting}`, `KAFKA_CFG_${setting}`]
    : [`KAFKA_CFG_${setting}`];
}

export function readKafkaEnv(container: Container): KafkaEnv {
  const dialect = envDialect(container);
  const source = (setting: ListenerSetting): SettingSource | undefined => {
    for (const name of readOrder(dialect, setting)) {
      // Kubernetes lets the last duplicate win; bitnami's alias applies whenever the name is defined.
      const index = lastEnvIndex(container.env, name);
      const entry = container.env?.[index];
      if (entry) return { name, index, value: entry.valueFrom ? undefined : (entry.value ?? '') };
    }
    return undefined;
  };
  return {
    dialect,
    source,
    value: (setting) => source(setting)?.value,
    nameFor: (setting) => (dialect === 'bitnami' ? `KAFKA_CFG_${setting}` : `KAFKA_${setting}`),
  };
}

/** The env name `setting` is read from: the chart's, or the one we would define it under. */
export function settingName(env: KafkaEnv, setting: ListenerSetting): string {
  return env.source(setting)?.name ?? env.nameFor(setting);
}

/** The port a listener binds, from a `listeners` list such as `CLIENT://:9092`. */
export function bindPort(listenersList: string | undefined, name: string): number | undefined {
  const port = listenersList === undefined ? undefined : findListener(listenersList, name)?.port;
  return port !== undefined && /^\d+$/.test(port) ? Number(port) : undefined;
}

/** Kafka's default inter-broker listener is the one named after security.inter.broker.protocol. */
export function defaultInterBrokerListener(listeners: Listener[]): string {
  return listeners.some((l) => l.name.toUpperCase() === 'INTERNAL') ? 'INTERNAL' : 'PLAINTEXT';
}

/** The protocol map's entry for listener `name`, if it has one. */
function mappedProtocol(map: string | undefined, name: string): string | undefined {
  const entry = (map ?? '')
    .split(',')
    .map((e) => e.trim().split(':'))
    .find(([listener]) => listener?.toUpperCase() === name.toUpperCase());
  return entry === undefined ? undefined : (entry[1] ?? '').toUpperCase();
}

/** The security protocol of listener `name`: the map's entry, else the name itself (Kafka's default map). */
function listenerProtocol(map: string | undefined, name: string): string | undefined {
  const mapped = mappedProtocol(map, name);
  if (mapped !== undefined) return mapped;
  return SECURITY_PROTOCOLS.includes(name.toUpperCase()) ? name.toUpperCase() : undefined;
}

/**
 * Why no listener may be added beside `listeners`, or undefined when one may. The added listener
 * is PLAINTEXT, and an outside listener must never be weaker than the ones the chart set up: a
 * broker with an SSL or SASL listener (or one of unknown protocol) gets none. A protocol map from
 * a Secret or ConfigMap can be neither read nor extended, so none is added beside one either.
 */
export function addedListenerRefusal(listeners: Listener[], env: KafkaEnv): string | undefined {
  const map = env.source('LISTENER_SECURITY_PROTOCOL_MAP');
  if (map && map.value === undefined) {
    return `${map.name} is not a literal value, so ${ADDED_LISTENER} cannot be mapped`;
  }
  const secured = listeners.find((l) => listenerProtocol(map?.value, l.name) !== 'PLAINTEXT');
  if (!secured) return undefined;
  const protocol = listenerProtocol(map?.value, secured.name) ?? 'of unknown protocol';
  return `listener ${secured.name} is ${protocol}, and only a PLAINTEXT ${ADDED_LISTENER} listener can be added`;
}

/**
 * Ensures the protocol map names listener `name` (Kafka refuses a listener whose name is not a
 * security protocol unless the map has it), with PLAINTEXT, in the variable the entrypoint reads.
 * Without a map, the new one keeps Kafka's default entries for the listeners named after protocols.
 * A map from a Secret or ConfigMap cannot be read or edited: it is left as the chart set it
 * (`addedListenerRefusal` keeps a listener from being added beside one).
 */
export function ensureProtocolMap(
  builder: PatchBuilder<StatefulSet>,
  containerPath: (string | number)[],
  container: Container,
  env: KafkaEnv,
  listeners: Listener[],
  name: string,
): void {
  const source = env.source('LISTENER_SECURITY_PROTOCOL_MAP');
  const current = source?.value;
  if (source && current === undefined) return;
  if (mappedProtocol(current, name) !== undefined) return;
  const value =
    current !== undefined && current.trim() !== ''
      ? `${current},${name}:PLAINTEXT`
      : [
          ...listeners.filter((l) => SECURITY_PROTOCOLS.includes(l.name)).map((l) => `${l.name}:${l.name}`),
          `${name}:PLAINTEXT`,
        ].join(',');
  if (source) builder.replace(pointer(...containerPath, 'env', source.index, 'value'), value);
  else
    appendEnvVar(builder, containerPath, container, {
      name: env.nameFor('LISTENER_SECURITY_PROTOCOL_MAP'),
      value,
    });
}
