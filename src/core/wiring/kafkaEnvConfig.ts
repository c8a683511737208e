/**
 * Kafka configuration as the Confluent and official apache/kafka images read it from env
 * (`KAFKA_FOO_BAR` → `foo.bar`): the names and defaults the command and image-env families share.
 */
import type { Listener } from '../advertisedListeners.ts';
import { appendEnvVar } from '../downwardEnv.ts';
import type { Container, StatefulSet } from '../kubeTypes.ts';
import { pointer, type PatchBuilder } from '../patchBuilder.ts';
import { envValue, lastEnvIndex } from '../recognizeKafka.ts';

export const PROTOCOL_MAP_ENV = 'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP';
/** The listener added when a broker has none that may face the outside. */
export const ADDED_LISTENER = 'EXTERNAL';
export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];

/** Kafka's default inter-broker listener is the one named after security.inter.broker.protocol. */
export function defaultInterBrokerListener(listeners: Listener[]): string {
  return listeners.some((l) => l.name.toUpperCase() === 'INTERNAL') ? 'INTERNAL' : 'PLAINTEXT';
}

/**
 * Ensures the protocol map names listener `name` (Kafka refuses a listener whose name is not a
 * security protocol unless the map has it), with PLAINTEXT like Kafka's default map.
 */
export function ensureProtocolMap(
  builder: PatchBuilder<StatefulSet>,
  containerPath: (string | number)[],
  container: Container,
  listeners: Listener[],
  name: string,
): void {
  const index = lastEnvIndex(container.env, PROTOCOL_MAP_ENV);
  const current = envValue(container, PROTOCOL_MAP_ENV);
  if (current !== undefined && new RegExp(`(^|,)\\s*${name}:`).test(current)) return;
  const value =
    current !== undefined && current.trim() !== ''
      ? `${current},${name}:PLAINTEXT`
      : [
          ...listeners.filter((l) => SECURITY_PROTOCOLS.includes(l.name)).map((l) => `${l.name}:${l.name}`),
          `${name}:PLAINTEXT`,
        ].join(',');
  if (index >= 0) builder.replace(pointer(...containerPath, 'env', index, 'value'), value);
  else appendEnvVar(builder, containerPath, container, { name: PROTOCOL_MAP_ENV, value });
}

/** The security protocol of listener `name`: the map's entry, else the name itself (default map). */
export function listenerProtocol(container: Container, name: string): string | undefined {
  const map = envValue(container, PROTOCOL_MAP_ENV);
  const entry = (map ?? '')
    .split(',')
    .map((e) => e.trim().split(':'))
    .find(([listener]) => listener?.toUpperCase() === name.toUpperCase());
  if (entry) return entry[1]?.toUpperCase();
  return SECURITY_PROTOCOLS.includes(name.toUpperCase()) ? name.toUpperCase() : undefined;
}
