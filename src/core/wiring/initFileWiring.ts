/**
 * Init-rendered-file family (bitnami/kafka 24–32): the chart's init container renders
 * `server.properties` into a shared emptyDir, replacing a placeholder with the pod's DNS name, and
 * the image ignores `KAFKA_CFG_*` env because that file is mounted. Per-pod values can only get in
 * at init time, so we append one init container — running last, after the chart's own, so no
 * later step re-adds the placeholder — that edits `advertised.listeners` in that file.
 */
import { withAdvertisedHost, type HostReader } from '../advertisedHost.ts';
import type { InjectorConfig } from '../config.ts';
import { holdsDesired } from '../desiredState.ts';
import { HOST_IP_ENV, hostIpEnvVar } from '../downwardEnv.ts';
import type { Container, PodSpec, StatefulSet, VolumeMount } from '../kubeTypes.ts';
import { pointer, type PatchBuilder } from '../patchBuilder.ts';
import { brokerContainerIndex } from '../recognizeKafka.ts';
import { HOST_FROM_NODE_IP, INJECTED_MARKER } from './shellSnippets.ts';
import { TEMPLATE_SPEC, unsupported, type Wiring, type WiringInput, type WiringOutcome } from './wiring.ts';

export const INIT_CONTAINER_NAME = 'kafka-nodeport-injector';
const INIT_HOST_READER: HostReader = { container: 'injected-init' };
const CONFIG_MOUNT = '/kafka-nodeport-injector/config';

/**
 * Edits `advertised.listeners` in $INJECTOR_CONFIG_FILE, in the chart's own image (bitnami ships
 * sh, sed, grep, tr). With no listener name given it exposes the listener bound to the exposed
 * container port, read from `listeners=`. Shared with the mounted-config family.
 */
export const EDIT_CONFIG_FILE = `file="$INJECTOR_CONFIG_FILE"
${HOST_FROM_NODE_IP}
name="$INJECTOR_LISTENER"
if [ -z "$name" ]; then
  name=$(sed -n 's/^listeners=//p' "$file" | tr ',' '\\n' | sed -n "s#^\\([A-Za-z0-9_]*\\)://.*:$INJECTOR_LISTENER_PORT\\$#\\1#p" | head -n 1)
fi
if [ -z "$name" ] || ! grep -Eq "^advertised\\.listeners=(.*,)?$name://" "$file"; then
  echo "kafka-nodeport-injector: no advertised listener \${name:-bound to port $INJECTOR_LISTENER_PORT} in $file; cannot expose this broker" >&2
  exit 1
fi
sed -i -E "s#^(advertised\\.listeners=(.*,)?$name://)[^,]*#\\1$host:$INJECTOR_NODE_PORT#" "$file"
grep '^advertised\\.listeners=' "$file"
`;

export const INIT_SCRIPT = `${INJECTED_MARKER}
set -eu
${EDIT_CONFIG_FILE}`;

/** The broker container's mount of the rendered file: `.../server.properties` via subPath. */
function renderedConfigMount(spec: PodSpec): VolumeMount | undefined {
  const broker = spec.containers[brokerContainerIndex(spec)];
  const mount = broker?.volumeMounts?.find((m) => m.mountPath.endsWith('/server.properties'));
  if (!mount?.subPath) return undefined;
  // Written at init time, so the volume is an emptyDir that an init container also mounts.
  const volume = spec.volumes?.find((v) => v.name === mount.name);
  // By the chart's init container: our own (mounted-config family) writes a copy, not a render.
  const written = (spec.initContainers ?? []).some(
    (c) => c.name !== INIT_CONTAINER_NAME && c.volumeMounts?.some((m) => m.name === mount.name),
  );
  return volume?.emptyDir !== undefined && written ? mount : undefined;
}

/** bitnami names container ports after listeners (`client` → CLIENT). */
function listenerPort(broker: Container, listener: string): { name: string; port: number } | undefined {
  const wanted = listener === 'auto' ? ['client', 'kafka-client'] : [listener.toLowerCase()];
  const port = broker.ports?.find((p) => p.name !== undefined && wanted.includes(p.name));
  return port?.name === undefined
    ? undefined
    : { name: port.name.replace(/^kafka-/, '').toUpperCase(), port: port.containerPort };
}

/**
 * Our init container, as `edit`, last in the pod (after the chart's own init steps), preceded by
 * the advertised-host prelude when the host is not `status.hostIP`.
 */
export function ensureLastInitContainer(
  builder: PatchBuilder<StatefulSet>,
  spec: PodSpec,
  edit: Container,
  config: InjectorConfig,
): void {
  const withHost = withAdvertisedHost(edit, config, INIT_HOST_READER, '');
  // Our own container always has a command, so the prelude always applies.
  const desired = withHost.ok ? withHost.container : edit;
  const inits = spec.initContainers ?? [];
  const existing = inits.findIndex((c) => c.name === INIT_CONTAINER_NAME);
  const initPath = [...TEMPLATE_SPEC, 'initContainers'];
  if (existing < 0) {
    if (spec.initContainers) builder.add(pointer(...initPath, '-'), desired);
    else builder.add(pointer(...initPath), [desired]);
  } else if (existing !== inits.length - 1) {
    // Another mutation appended after ours; ours must stay last.
    builder.remove(pointer(...initPath, existing));
    builder.add(pointer(...initPath, '-'), desired);
  } else if (!holdsDesired(desired, inits[existing])) {
    builder.replace(pointer(...initPath, existing), desired);
  }
}

export const initFileWiring: Wiring = {
  family: 'init-rendered-file',

  brokerIndex(spec: PodSpec): number {
    return renderedConfigMount(spec) === undefined ? -1 : brokerContainerIndex(spec);
  },

  apply({ sts, builder, config, container: broker }: WiringInput): WiringOutcome {
    const spec = sts.spec.template.spec;
    const mount = renderedConfigMount(spec);
    if (!mount) return unsupported('no rendered server.properties mount');
    const bound = listenerPort(broker, config.listener);
    if (bound === undefined) {
      // bitnami controller-only nodes have no client port and advertise nothing.
      return {
        exposed: false,
        reason: 'not-a-broker',
        message: `container ${broker.name} has no client listener port`,
      };
    }
    const containerPort = bound.port;
    // With `auto` the script finds the name at start from the port; bitnami's default is CLIENT.
    const listener = config.listener === 'auto' ? '' : config.listener;
    const chartInit = spec.initContainers?.at(-1);
    const desired: Container = {
      name: INIT_CONTAINER_NAME,
      image: broker.image ?? chartInit?.image ?? '',
      ...(broker.imagePullPolicy ? { imagePullPolicy: broker.imagePullPolicy } : {}),
      command: ['/bin/sh', '-c', INIT_SCRIPT],
      env: [
        hostIpEnvVar(),
        { name: 'INJECTOR_LISTENER', value: listener },
        { name: 'INJECTOR_LISTENER_PORT', value: String(containerPort) },
        { name: 'INJECTOR_NODE_PORT', value: String(config.nodePort) },
        { name: 'INJECTOR_CONFIG_FILE', value: `${CONFIG_MOUNT}/${mount.subPath ?? ''}` },
      ],
      volumeMounts: [{ name: mount.name, mountPath: CONFIG_MOUNT }],
      // The chart's init container already satisfies the namespace's pod security level.
      ...(chartInit?.securityContext ? { securityContext: chartInit.securityContext } : {}),
      ...(chartInit?.resources ? { resources: chartInit.resources } : {}),
    };

    ensureLastInitContainer(builder, spec, desired, config);

    return {
      exposed: true,
      exposure: {
        family: 'init-rendered-file',
        listener: bound.name,
        containerPort,
        advertised: `${bound.name}://$(${HOST_IP_ENV}):${String(config.nodePort)}`,
        hostReader: INIT_HOST_READER,
      },
      changes: [`initContainer ${INIT_CONTAINER_NAME}: listener on port ${String(containerPort)}`],
    };
  },
};
