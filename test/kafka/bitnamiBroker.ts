// What a bitnami/kafka pod (chart 12.x-22.x, image bitnami/kafka 2.7-3.4) turns its container
// environment into: the chart's /scripts/setup.sh (broker/node id from the pod-name ordinal, KRaft
// voters) followed by the image's entrypoint (legacy KAFKA_* aliases, then every KAFKA_CFG_FOO_BAR
// written to server.properties as foo.bar). Pure module: env in, server.properties out.
//
// Sources (read, not copied): the chart's scripts ConfigMap in ../shared/charts-rendered, and the
// image's libkafka.sh (kafka_create_alias_environment_variables, kafka_initialize,
// kafka_configure_from_environment_variables, kafka_common_conf_set, kraft_initialize) as described
// in ../shared/docs/charts.md section 10.

/** Non-comment and commented keys of the Apache Kafka distribution's config/server.properties
 * (ZooKeeper mode), which the bitnami image starts from when no server.properties is mounted. */
export const DISTRIBUTION_SERVER_PROPERTIES = `broker.id=0
#listeners=PLAINTEXT://:9092
#advertised.listeners=PLAINTEXT://your.host.name:9092
#listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kafka-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
zookeeper.connect=localhost:2181
zookeeper.connection.timeout.ms=18000
group.initial.rebalance.delay.ms=0`;

/** The distribution's config/kraft/server.properties keys (combined broker+controller), the base
 * assumed when the image runs with KAFKA_ENABLE_KRAFT=yes. */
export const DISTRIBUTION_KRAFT_SERVER_PROPERTIES = `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000`;

/** Legacy names the image aliases to KAFKA_CFG_<suffix> (kafka_create_alias_environment_variables). */
const ALIAS_SUFFIXES = [
  'ADVERTISED_LISTENERS',
  'BROKER_ID',
  'DEFAULT_REPLICATION_FACTOR',
  'DELETE_TOPIC_ENABLE',
  'INTER_BROKER_LISTENER_NAME',
  'LISTENERS',
  'LISTENER_SECURITY_PROTOCOL_MAP',
  'LOG_DIRS',
  'LOG_FLUSH_INTERVAL_MESSAGES',
  'LOG_FLUSH_INTERVAL_MS',
  'LOG_MESSAGE_FORMAT_VERSION',
  'LOG_RETENTION_BYTES',
  'LOG_RETENTION_CHECK_INTERVALS_MS',
  'LOG_RETENTION_HOURS',
  'LOG_SEGMENT_BYTES',
  'MESSAGE_MAX_BYTES',
  'NUM_IO_THREADS',
  'NUM_NETWORK_THREADS',
  'NUM_PARTITIONS',
  'NUM_RECOVERY_THREADS_PER_DATA_DIR',
  'OFFSETS_TOPIC_REPLICATION_FACTOR',
  'SOCKET_RECEIVE_BUFFER_BYTES',
  'SOCKET_REQUEST_MAX_BYTES',
  'SOCKET_SEND_BUFFER_BYTES',
  'SSL_ENDPOINT_IDENTIFICATION_ALGORITHM',
  'TRANSACTION_STATE_LOG_MIN_ISR',
  'TRANSACTION_STATE_LOG_REPLICATION_FACTOR',
  'ZOOKEEPER_CONNECT',
  'ZOOKEEPER_CONNECTION_TIMEOUT_MS',
];
const RENAMED_ALIASES: [alias: string, original: string][] = [
  ['KAFKA_CFG_LOG_DIRS', 'KAFKA_LOGS_DIRS'],
  ['KAFKA_CFG_LOG_SEGMENT_BYTES', 'KAFKA_SEGMENT_BYTES'],
  ['KAFKA_CFG_MESSAGE_MAX_BYTES', 'KAFKA_MAX_MESSAGE_BYTES'],
  ['KAFKA_CFG_ZOOKEEPER_CONNECTION_TIMEOUT_MS', 'KAFKA_ZOOKEEPER_CONNECT_TIMEOUT_MS'],
  ['KAFKA_CFG_AUTO_CREATE_TOPICS_ENABLE', 'KAFKA_AUTO_CREATE_TOPICS_ENABLE'],
];

/** What the chart's setup.sh does, parsed from the scripts ConfigMap text. */
export interface SetupScript {
  /** `ID="${MY_POD_NAME#"<prefix>"}"` */
  podNamePrefix: string;
  /** `$((ID + <minBrokerId>))` */
  minId: number;
  /** KRaft voters loop (bitnami 22.x), when present. */
  voters?: { hostTemplate: string; port: number; count: number; firstNodeId: number };
}

export function parseSetupScript(script: string): SetupScript {
  const prefix = /ID="\$\{MY_POD_NAME#"([^"]*)"\}"/.exec(script);
  if (!prefix) throw new Error('setup.sh: no ID="${MY_POD_NAME#"<prefix>"}" line');
  const offset = /\$\(\(ID \+ (\d+)\)\)/.exec(script);
  if (!offset) throw new Error('setup.sh: no $((ID + N)) broker id');
  // Refuse what this emulation does not do, instead of silently getting it wrong.
  if (/export\s+KAFKA_CFG_ADVERTISED_LISTENERS=/.test(script)) {
    throw new Error('setup.sh exports KAFKA_CFG_ADVERTISED_LISTENERS (externalAccess): not emulated');
  }
  const result: SetupScript = { podNamePrefix: prefix[1] ?? '', minId: Number(offset[1]) };
  const voter = /VOTERS="\$\{VOTERS\}\$node_id@([^"]*):(\d+)"/.exec(script);
  if (voter) {
    const bound = /\$pod_id -ge (\d+)/.exec(script);
    const first = /node_id=(\d+)\s/.exec(script);
    if (!bound || !first) throw new Error('setup.sh: KRaft voters loop not understood');
    result.voters = {
      hostTemplate: voter[1] ?? '',
      port: Number(voter[2]),
      count: Number(bound[1]),
      firstNodeId: Number(first[1]),
    };
  }
  return result;
}

/** The environment after setup.sh's `export`s (fresh volume: no meta.properties yet, unless given). */
export function runSetupScript(
  env: ReadonlyMap<string, string>,
  setup: SetupScript,
  existingMetaProperties?: string,
): Map<string, string> {
  const out = new Map(env);
  const podName = env.get('MY_POD_NAME') ?? '';
  // ${MY_POD_NAME#"prefix"}: strip the prefix when it matches.
  const id = podName.startsWith(setup.podNamePrefix) ? podName.slice(setup.podNamePrefix.length) : podName;
  if (!/^\d+$/.test(id)) throw new Error(`setup.sh: $((ID + N)) on non-numeric ID "${id}"`);
  const roles = env.get('KAFKA_CFG_PROCESS_ROLES') ?? '';
  const kraftScript = setup.voters !== undefined;
  const idVar = kraftScript && roles !== '' ? 'KAFKA_CFG_NODE_ID' : 'KAFKA_CFG_BROKER_ID';
  const metaKey = idVar === 'KAFKA_CFG_NODE_ID' ? 'node.id' : 'broker.id';
  const fromMeta =
    existingMetaProperties === undefined
      ? undefined
      : new RegExp(`^${metaKey.replace('.', '\\.')}=(.*)$`, 'm').exec(existingMetaProperties)?.[1];
  out.set(idVar, fromMeta ?? String(Number(id) + setup.minId));
  if (
    setup.voters &&
    roles.includes('controller') &&
    (env.get('KAFKA_CFG_CONTROLLER_QUORUM_VOTERS') ?? '') === ''
  ) {
    const voters: string[] = [];
    for (let podId = 0; podId < Math.max(1, setup.voters.count); podId++) {
      const host = setup.voters.hostTemplate.replaceAll('$pod_id', String(podId));
      voters.push(`${setup.voters.firstNodeId + podId}@${host}:${setup.voters.port}`);
    }
    out.set('KAFKA_CFG_CONTROLLER_QUORUM_VOTERS', voters.join(','));
  }
  return out;
}

/** kafka_common_conf_set: replace `key=` (also a commented `#key=`) in place, else append. */
function confSet(lines: string[], key: string, value: string): void {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^[#\\s]*${escaped}\\s*=.*`);
  let found = false;
  for (let i = 0; i < lines.length; i++) {
    if (re.test(lines[i] ?? '')) {
      lines[i] = `${key}=${value}`;
      found = true;
    }
  }
  if (!found) lines.push(`${key}=${value}`);
}

function removeKey(lines: string[], key: string): string[] {
  return lines.filter((l) => !l.startsWith(`${key}=`));
}

export function envNameToProperty(name: string): string {
  let key = name
    .replace(/^KAFKA_CFG_/, '')
    .replaceAll('_', '.')
    .toLowerCase();
  if (name === 'KAFKA_CFG_ZOOKEEPER_CLIENTCNXNSOCKET') key = 'zookeeper.clientCnxnSocket';
  return key.replaceAll('sasl.ssl', 'sasl_ssl').replaceAll('sasl.plaintext', 'sasl_plaintext');
}

export interface BrokerConfig {
  /** server.properties text */
  serverProperties: string;
  /** parsed view of the same (last value of a key wins, as java.util.Properties) */
  properties: Map<string, string>;
  /** the env after setup.sh and the image's aliases */
  env: Map<string, string>;
  /** KAFKA_HEAP_OPTS as the pod would use it */
  heapOpts: string | undefined;
  /** set when the image would run `kafka-storage.sh format --cluster-id <id> --ignore-formatted` */
  kraftClusterId: string | undefined;
}

export interface BrokerOptions {
  /** in-container path prefix -> host path (volume mounts), applied to path-valued properties */
  hostPaths?: Record<string, string>;
  /** contents of <data dir>/meta.properties if the volume is not fresh */
  existingMetaProperties?: string;
}

const PATH_PROPERTIES = ['log.dirs', 'log.dir', 'metadata.log.dir'];

function mapPath(value: string, hostPaths: Record<string, string>): string {
  return value
    .split(',')
    .map((p) => {
      for (const [inContainer, onHost] of Object.entries(hostPaths)) {
        if (p === inContainer || p.startsWith(inContainer + '/')) return onHost + p.slice(inContainer.length);
      }
      return p;
    })
    .join(',');
}

function isYes(v: string | undefined): boolean {
  return v !== undefined && /^(1|yes|true)$/i.test(v);
}

/** Container env (from podEnv.containerRuntime) + the chart's setup.sh -> server.properties. */
export function bitnamiServerProperties(
  containerEnv: ReadonlyMap<string, string>,
  setupScriptText: string,
  options: BrokerOptions = {},
): BrokerConfig {
  // 1. The chart's /scripts/setup.sh.
  const env = runSetupScript(containerEnv, parseSetupScript(setupScriptText), options.existingMetaProperties);
  // 2. The image: legacy aliases (the legacy name, when set, overrides the KAFKA_CFG_ one).
  for (const [alias, original] of RENAMED_ALIASES) {
    const v = env.get(original);
    if (v !== undefined) env.set(alias, v);
  }
  for (const suffix of ALIAS_SUFFIXES) {
    const v = env.get(`KAFKA_${suffix}`);
    if (v !== undefined) env.set(`KAFKA_CFG_${suffix}`, v);
  }
  const kraft = isYes(env.get('KAFKA_ENABLE_KRAFT'));
  // 3. kafka_initialize (no mounted server.properties): distribution defaults, then log.dirs, then
  //    every KAFKA_CFG_* in bash's "${!KAFKA_CFG_@}" order (sorted by name).
  let lines = (kraft ? DISTRIBUTION_KRAFT_SERVER_PROPERTIES : DISTRIBUTION_SERVER_PROPERTIES).split('\n');
  const volumeDir = env.get('KAFKA_VOLUME_DIR') ?? '/bitnami/kafka';
  confSet(lines, 'log.dirs', `${volumeDir}/data`);
  const cfgNames = [...env.keys()].filter((k) => k.startsWith('KAFKA_CFG_')).sort();
  for (const name of cfgNames) confSet(lines, envNameToProperty(name), env.get(name) ?? '');
  //    security.inter.broker.protocol is set by the INTERNAL:/CLIENT: protocol handling and removed
  //    again when an inter-broker listener name is configured.
  const map = env.get('KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP') ?? '';
  const client = /CLIENT:([a-zA-Z_]*)/.exec(map)?.[1];
  const internal = /INTERNAL:([a-zA-Z_]*)/.exec(map)?.[1];
  if (internal) confSet(lines, 'security.inter.broker.protocol', internal);
  if (client) confSet(lines, 'security.inter.broker.protocol', client);
  if ((env.get('KAFKA_CFG_INTER_BROKER_LISTENER_NAME') ?? '') !== '') {
    lines = removeKey(lines, 'security.inter.broker.protocol');
  }
  if (kraft && env.has('KAFKA_CFG_NODE_ID')) lines = removeKey(lines, 'broker.id');
  // 4. The pod's volumes, seen from the host running the JVM.
  const hostPaths = options.hostPaths ?? {};
  lines = lines.map((line) => {
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq < 0) return line;
    const key = line.slice(0, eq);
    return PATH_PROPERTIES.includes(key) ? `${key}=${mapPath(line.slice(eq + 1), hostPaths)}` : line;
  });
  const properties = new Map<string, string>();
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq < 0) continue;
    properties.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return {
    serverProperties: lines.join('\n') + '\n',
    properties,
    env,
    heapOpts: env.get('KAFKA_HEAP_OPTS'),
    kraftClusterId: kraft ? (env.get('KAFKA_KRAFT_CLUSTER_ID') ?? '') : undefined,
  };
}
