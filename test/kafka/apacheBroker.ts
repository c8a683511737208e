// The official apache/kafka image configured by env (its /etc/kafka/docker/run): every KAFKA_* env
// var that is not a JVM or tooling setting becomes a property of the server.properties it starts
// with — `KAFKA_` stripped, lower case, `___` → `-`, `__` → `_`, `_` → `.` — and CLUSTER_ID formats
// the KRaft storage. Pure: env in, config out (the same shape the bitnami emulation returns).
import type { BrokerConfig, BrokerOptions } from './bitnamiBroker.ts';

/** Env the image's scripts read themselves; never properties. */
const NOT_PROPERTIES = new Set([
  'KAFKA_VERSION',
  'KAFKA_HEAP_OPTS',
  'KAFKA_OPTS',
  'KAFKA_JMX_OPTS',
  'KAFKA_JMX_PORT',
  'KAFKA_JMX_HOSTNAME',
  'KAFKA_JVM_PERFORMANCE_OPTS',
  'KAFKA_GC_LOG_OPTS',
  'KAFKA_LOG4J_OPTS',
  'KAFKA_LOG4J_ROOT_LOGLEVEL',
  'KAFKA_LOG4J_LOGGERS',
  'KAFKA_TOOLS_LOG4J_LOGLEVEL',
]);

export function apacheEnvToProperty(name: string): string {
  return name
    .slice('KAFKA_'.length)
    .toLowerCase()
    .replaceAll('___', '-')
    .replaceAll('__', '\u0000')
    .replaceAll('_', '.')
    .replaceAll('\u0000', '_');
}

const PATH_PROPERTIES = ['log.dirs', 'log.dir', 'metadata.log.dir'];

export function apacheServerProperties(
  env: ReadonlyMap<string, string>,
  options: BrokerOptions = {},
): BrokerConfig {
  const properties = new Map<string, string>();
  for (const [name, value] of [...env].sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith('KAFKA_') || NOT_PROPERTIES.has(name)) continue;
    properties.set(apacheEnvToProperty(name), value);
  }
  for (const key of PATH_PROPERTIES) {
    const value = properties.get(key);
    if (value === undefined) continue;
    const mapped = Object.entries(options.hostPaths ?? {}).reduce(
      (v, [inContainer, onHost]) =>
        v === inContainer || v.startsWith(`${inContainer}/`) ? onHost + v.slice(inContainer.length) : v,
      value,
    );
    properties.set(key, mapped);
  }
  return {
    serverProperties: [...properties].map(([k, v]) => `${k}=${v}`).join('\n') + '\n',
    properties,
    env: new Map(env),
    heapOpts: env.get('KAFKA_HEAP_OPTS'),
    kraftClusterId: env.get('CLUSTER_ID'),
  };
}
