/**
 * Where a broker's advertised host comes from at container start (SPEC §2 `address-type`,
 * `advertised-hosts`). With the defaults it is the downward API's `status.hostIP` in `MY_HOST_IP`
 * and nothing here applies. Otherwise the container that reads `MY_HOST_IP` (the broker, or our
 * init container) runs a short prelude first: it sets `MY_HOST_IP` to this broker's override, or
 * to its node's address of the configured type from the mounted node-address map, and then execs
 * what the container ran before. The Kafka pods need no Kubernetes API access for this.
 *
 * Families whose host the kubelet expands (`$(MY_HOST_IP)` in env) cannot see the prelude's
 * value, so for them the prelude also rewrites the exposed listener's entry in that env var.
 */
import type { InjectorConfig } from './config.ts';
import { appendEnvVar } from './downwardEnv.ts';
import type { Container, EnvVar, StatefulSet } from './kubeTypes.ts';
import { fallbackOrder, NODE_ADDRESS_MAP, NODE_ADDRESS_MOUNT } from './nodeAddresses.ts';
import { pointer, type PatchBuilder } from './patchBuilder.ts';

/** Marks the prelude; deliberately not the family wrappers' marker, so both can be recognised. */
export const HOST_PRELUDE_MARKER = '# kafka-nodeport-injector: advertised host';
const SHELL = '/bin/sh';
const VOLUME = 'kafka-nodeport-injector-node-addresses';
/** How long a broker waits for its node's entry (a node newer than the map) before failing. */
export const NODE_ENTRY_WAIT_SECONDS = 120;
/** Env on the container that overrides that bound. */
export const WAIT_ENV = 'KAFKA_NODEPORT_INJECTOR_NODE_WAIT_SECONDS';

/** Whether the advertised host is anything but `status.hostIP`. */
export function resolvesHostAtStart(config: InjectorConfig): boolean {
  return config.addressType !== 'InternalIP' || config.advertisedHosts.size > 0;
}

function usesNodeAddressMap(config: InjectorConfig): boolean {
  return config.addressType !== 'InternalIP';
}

/** Which container reads the host, and whether the kubelet already expanded it into an env var. */
export interface HostReader {
  container: 'broker' | 'injected-init';
  /** An env var holding the exposed listener with the host expanded by the kubelet. */
  expandedEnv?: string;
}

/** `command` under the prelude, as the chart or the family wrote it. */
export function peelHostPrelude(command: readonly string[] | null | undefined): string[] {
  const list = command ?? [];
  return hostPreludeLength(list) > 0 ? list.slice(3) : [...list];
}

/** Number of leading `command` elements that are the prelude (0 or 3). */
export function hostPreludeLength(command: readonly string[] | null | undefined): number {
  return command?.[0] === SHELL && command[1] === '-c' && command[2]?.startsWith(HOST_PRELUDE_MARKER) ? 3 : 0;
}

const quote = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;

/** The prelude's shell (POSIX sh: the images differ, busybox included). */
export function hostPrelude(
  config: InjectorConfig,
  reader: HostReader,
  listener: string,
  nodePort: number,
): string {
  const lines = [HOST_PRELUDE_MARKER, 'set -e'];
  const lookup = usesNodeAddressMap(config) ? nodeLookup(config) : [];
  if (config.advertisedHosts.size > 0) {
    lines.push('case "${MY_POD_NAME##*-}" in');
    for (const [ordinal, host] of config.advertisedHosts) {
      lines.push(`  ${String(ordinal)}) MY_HOST_IP=${quote(host)} ;;`);
    }
    if (lookup.length > 0) lines.push('  *)', ...lookup.map((l) => `    ${l}`), '    ;;');
    lines.push('esac');
  } else {
    lines.push(...lookup);
  }
  lines.push('export MY_HOST_IP');
  if (reader.expandedEnv !== undefined) {
    // The name goes in a variable: a literal `NAME=` here would read as the chart's own wiring.
    lines.push(
      `kni_var=${reader.expandedEnv}`,
      'kni_host="$MY_HOST_IP"',
      'case "$kni_host" in *:*) kni_host="[$kni_host]" ;; esac',
      'eval "kni_list=\\"\\${$kni_var}\\""',
      `kni_list=$(printf '%s' "$kni_list" | sed -E "s#(^|,)${listener}://[^,]*#\\1${listener}://$kni_host:${String(nodePort)}#")`,
      'eval "$kni_var=\\$kni_list"',
      'export "$kni_var"',
    );
  }
  lines.push('exec "$0" "$@"', '');
  return lines.join('\n');
}

/** Reads this node's entry from the mounted map, waiting a bounded time for a node newer than it. */
function nodeLookup(config: InjectorConfig): string[] {
  const order = fallbackOrder(config.addressType).join(' ');
  return [
    `kni_map="${NODE_ADDRESS_MOUNT}/$MY_NODE_NAME"`,
    'kni_waited=0',
    `kni_wait=\${${WAIT_ENV}:-${String(NODE_ENTRY_WAIT_SECONDS)}}`,
    'while [ ! -s "$kni_map" ]; do',
    '  if [ "$kni_waited" -ge "$kni_wait" ]; then',
    `    echo "kafka-nodeport-injector: node $MY_NODE_NAME has no entry in ConfigMap ${NODE_ADDRESS_MAP} after $kni_wait s (the webhook writes it there; is the webhook running, and does it watch Nodes?)" >&2`,
    '    exit 1',
    '  fi',
    '  sleep 2',
    '  kni_waited=$((kni_waited + 2))',
    'done',
    'MY_HOST_IP=',
    `for kni_type in ${order}; do`,
    '  while IFS="=" read -r kni_key kni_value; do',
    '    if [ "$kni_key" = "$kni_type" ] && [ -n "$kni_value" ]; then MY_HOST_IP="$kni_value"; break; fi',
    '  done < "$kni_map"',
    '  if [ -n "$MY_HOST_IP" ]; then break; fi',
    'done',
    'if [ -z "$MY_HOST_IP" ]; then',
    `  echo "kafka-nodeport-injector: node $MY_NODE_NAME has no address in ${NODE_ADDRESS_MAP}" >&2`,
    '  exit 1',
    'fi',
    `if [ "$kni_type" != ${config.addressType} ]; then`,
    `  echo "kafka-nodeport-injector: node $MY_NODE_NAME has no ${config.addressType} address; advertising its $kni_type $MY_HOST_IP" >&2`,
    'fi',
  ];
}

/**
 * The command a container runs by default when the chart sets none. Only images whose default
 * command we know can be wrapped; replacing the entrypoint of the apache/kafka image skips
 * eclipse-temurin's opt-in CA import (`USE_SYSTEM_CA_CERTS`), nothing else.
 */
const IMAGE_COMMANDS: { image: RegExp; command: string[] }[] = [
  { image: /(^|\/)apache\/kafka(-native)?(:|@|$)/, command: ['/etc/kafka/docker/run'] },
  { image: /(^|\/)confluentinc\/cp-(kafka|server)(:|@|$)/, command: ['/etc/confluent/docker/run'] },
];

/** The command `image` runs when a container sets none, for the images we know. */
export function imageDefaultCommand(image: string | null | undefined): string[] | undefined {
  return IMAGE_COMMANDS.find((known) => known.image.test(image ?? ''))?.command;
}

function defaultCommand(container: Container): string[] | undefined {
  if (container.args && container.args.length > 0) return []; // args run as the command
  return imageDefaultCommand(container.image);
}

const DOWNWARD: Record<string, string> = { MY_NODE_NAME: 'spec.nodeName', MY_POD_NAME: 'metadata.name' };

function downwardEnvVar(name: string): EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: DOWNWARD[name] ?? '' } } };
}

export type HostOutcome = { ok: true; changes: string[] } | { ok: false; message: string };

/** The downward env the prelude reads. */
function preludeEnv(config: InjectorConfig): EnvVar[] {
  return [
    ...(usesNodeAddressMap(config) ? ['MY_NODE_NAME'] : []),
    ...(config.advertisedHosts.size > 0 ? ['MY_POD_NAME'] : []),
  ].map(downwardEnvVar);
}

const MAP_MOUNT = { name: VOLUME, mountPath: NODE_ADDRESS_MOUNT, readOnly: true };

/**
 * `container` running the prelude first, with the env and mount the prelude reads (existing
 * entries of the same name are kept). Pure: the init families build their container with it.
 */
export function withAdvertisedHost(
  container: Container,
  config: InjectorConfig,
  reader: HostReader,
  listener: string,
): { ok: true; container: Container } | { ok: false; message: string } {
  if (!resolvesHostAtStart(config)) return { ok: true, container };
  const peeled = peelHostPrelude(container.command);
  const underneath = peeled.length > 0 ? peeled : defaultCommand(container);
  if (underneath === undefined) {
    return {
      ok: false,
      message: `address-type ${config.addressType}${config.advertisedHosts.size > 0 ? ' and advertised-hosts' : ''} need a prelude before the broker's command, but container ${container.name} runs the default command of image ${container.image ?? '?'}, which this webhook does not know: set the container's command in the chart's values, or use address-type InternalIP`,
    };
  }
  const env = container.env ?? [];
  const mounts = container.volumeMounts ?? [];
  return {
    ok: true,
    container: {
      ...container,
      command: [SHELL, '-c', hostPrelude(config, reader, listener, config.nodePort), ...underneath],
      env: [...env, ...preludeEnv(config).filter((e) => !env.some((d) => d.name === e.name))],
      ...(usesNodeAddressMap(config) && !mounts.some((m) => m.name === VOLUME)
        ? { volumeMounts: [...mounts, MAP_MOUNT] }
        : {}),
    },
  };
}

/**
 * The pod side of a non-default host: the map's volume, and for a broker that reads the host
 * itself, the prelude, env and mount on the broker container (minimal operations, none when they
 * are already there). An init family's container already came from `withAdvertisedHost`.
 */
export function ensureAdvertisedHost(
  builder: PatchBuilder<StatefulSet>,
  brokerIndex: number,
  config: InjectorConfig,
  reader: HostReader,
  listener: string,
): HostOutcome {
  if (!resolvesHostAtStart(config)) {
    dropHostPrelude(builder, brokerIndex);
    return { ok: true, changes: [] };
  }
  if (reader.container === 'broker') {
    const path = ['spec', 'template', 'spec', 'containers', brokerIndex];
    const current = builder.draft.spec.template.spec.containers[brokerIndex];
    if (!current) return { ok: false, message: `no container at index ${String(brokerIndex)}` };
    const wanted = withAdvertisedHost(current, config, reader, listener);
    if (!wanted.ok) return wanted;
    const { command = [], env = [], volumeMounts = [] } = wanted.container;
    if (JSON.stringify(command) !== JSON.stringify(current.command)) {
      // `add` also creates the member: a container on its image's default command has none.
      builder.add(pointer(...path, 'command'), command);
    }
    for (const entry of (env ?? []).slice(current.env?.length ?? 0)) {
      appendEnvVar(builder, path, builder.draft.spec.template.spec.containers[brokerIndex] ?? current, entry);
    }
    for (const mount of (volumeMounts ?? []).slice(current.volumeMounts?.length ?? 0)) {
      if (current.volumeMounts) builder.add(pointer(...path, 'volumeMounts', '-'), mount);
      else builder.add(pointer(...path, 'volumeMounts'), [mount]);
    }
  }
  const changes = [`advertised host: ${describeHost(config)}`];
  if (usesNodeAddressMap(config)) {
    ensureNodeAddressVolume(builder);
    changes.push(`volume ${VOLUME}`);
  }
  return { ok: true, changes };
}

/** Back to `status.hostIP` (the settings changed on a live object): the broker runs its own command again. */
function dropHostPrelude(builder: PatchBuilder<StatefulSet>, brokerIndex: number): void {
  const command = builder.draft.spec.template.spec.containers[brokerIndex]?.command;
  if (hostPreludeLength(command) === 0) return;
  const path = pointer('spec', 'template', 'spec', 'containers', brokerIndex, 'command');
  const peeled = peelHostPrelude(command);
  if (peeled.length > 0) builder.replace(path, peeled);
  else builder.remove(path);
}

function describeHost(config: InjectorConfig): string {
  const overrides = [...config.advertisedHosts.keys()].join(',');
  return overrides ? `${config.addressType}, overrides for brokers ${overrides}` : config.addressType;
}

/** The map's volume in the pod (optional: a pod may start before the map exists, and waits). */
function ensureNodeAddressVolume(builder: PatchBuilder<StatefulSet>): void {
  const volumes = builder.draft.spec.template.spec.volumes;
  const volume = { name: VOLUME, configMap: { name: NODE_ADDRESS_MAP, optional: true } };
  const volumesPath = ['spec', 'template', 'spec', 'volumes'];
  if (!volumes) builder.add(pointer(...volumesPath), [volume]);
  else if (!volumes.some((v) => v.name === VOLUME)) builder.add(pointer(...volumesPath, '-'), volume);
}
