/**
 * Mounted-config family: the broker starts with `kafka-server-start.sh <file>` on a properties
 * file mounted read-only from a ConfigMap — `server.properties`, or any other, such as a KRaft
 * `kraft/broker.properties` placed by the volume's `items`. That file is the same for every pod, so
 * per-pod addresses can only get in at start: the broker's mount is pointed at an emptyDir, which
 * an init container (the broker's own image, running last) fills with a copy of the ConfigMap's
 * files and edits, as the init-rendered-file family edits bitnami's rendered file. The chart's
 * ConfigMap and every other mount of it stay as they were.
 */
import { chooseListener, parseListeners } from '../advertisedListeners.ts';
import { configMapFileAt, type ConfigMapFile, type ConfigMaps } from '../configMaps.ts';
import { HOST_IP_ENV, hostIpEnvVar } from '../downwardEnv.ts';
import type { Container, PodSpec, VolumeMount } from '../kubeTypes.ts';
import { pointer } from '../patchBuilder.ts';
import { EDIT_CONFIG_FILE, ensureLastInitContainer, INIT_CONTAINER_NAME } from './initFileWiring.ts';
import { defaultInterBrokerListener } from './kafkaEnvConfig.ts';
import { INJECTED_MARKER } from './shellSnippets.ts';
import { TEMPLATE_SPEC, unsupported, type Wiring, type WiringInput, type WiringOutcome } from './wiring.ts';

/** The emptyDir the broker reads the edited copy from. */
export const COPY_VOLUME = 'kafka-nodeport-injector-config';
const SOURCE_MOUNT = '/kafka-nodeport-injector/source';
const COPY_MOUNT = '/kafka-nodeport-injector/config';

export const COPY_SCRIPT = `${INJECTED_MARKER}
set -eu
cp -RL "$INJECTOR_SOURCE_DIR"/* "$INJECTOR_COPY_DIR"/
${EDIT_CONFIG_FILE}`;

interface MountedConfig {
  /** Index of the broker's mount of the properties file (or of its directory). */
  mountIndex: number;
  mount: VolumeMount;
  /** The ConfigMap volume the file comes from (before or after our mutation). */
  volume: string;
  configMap: string;
  /** The file's key in the ConfigMap, and its path in the volume (and so in our copy). */
  file: ConfigMapFile;
  text: string | undefined;
}

/** The properties file `kafka-server-start.sh` is given, when it is the word after the script. */
function startedWith(container: Container): string | undefined {
  const words = [...(container.command ?? []), ...(container.args ?? [])].flatMap((w) => w.split(/\s+/));
  const at = words.findIndex((w) => /(^|\/)kafka-server-start(\.sh)?$/.test(w));
  const file = at < 0 ? undefined : words[at + 1];
  return file?.startsWith('/') ? file.replace(/^["']|["']$/g, '') : undefined;
}

/** The ConfigMap volume an init container of ours copies from, after a first mutation. */
function sourceVolume(spec: PodSpec): string | undefined {
  const ours = spec.initContainers?.find((c) => c.name === INIT_CONTAINER_NAME);
  return ours?.volumeMounts?.find((m) => m.mountPath === SOURCE_MOUNT)?.name;
}

function mountedConfigOf(
  container: Container,
  spec: PodSpec,
  configMaps: ConfigMaps,
): MountedConfig | undefined {
  const file = startedWith(container);
  if (file === undefined) return undefined;
  const mounts = container.volumeMounts ?? [];
  for (const [mountIndex, mount] of mounts.entries()) {
    // After a first mutation the broker mounts our copy; the ConfigMap is what it was copied from.
    const volume = mount.name === COPY_VOLUME ? sourceVolume(spec) : mount.name;
    const source = spec.volumes?.find((v) => v.name === volume);
    const configMap = source?.configMap?.name;
    if (volume === undefined || configMap === undefined || configMap === null) continue;
    const found = configMapFileAt(mount, source, file);
    if (found === undefined) continue;
    return {
      mountIndex,
      mount,
      volume,
      configMap,
      file: found,
      text: configMaps.get(configMap)?.[found.key],
    };
  }
  return undefined;
}

function property(text: string, key: string): string | undefined {
  const line = text.split('\n').findLast((l) => l.startsWith(`${key}=`));
  return line?.slice(key.length + 1).trim();
}

export const mountedConfigWiring: Wiring = {
  family: 'mounted-config',

  brokerIndex(spec: PodSpec, configMaps: ConfigMaps): number {
    return spec.containers.findIndex((c) => {
      const found = mountedConfigOf(c, spec, configMaps);
      return (
        found !== undefined && (found.text === undefined || found.text.includes('advertised.listeners='))
      );
    });
  },

  apply({ sts, builder, config, container: broker, index, configMaps }: WiringInput): WiringOutcome {
    const spec = sts.spec.template.spec;
    const found = mountedConfigOf(broker, spec, configMaps);
    if (!found) return unsupported('no properties file from a ConfigMap in the start command');
    const where = `${found.mount.subPath ? found.mount.mountPath : `${found.mount.mountPath}/${found.file.path}`} (ConfigMap ${found.configMap})`;
    if (found.text === undefined) return unsupported(`the broker reads ${where}, which is not in view`);
    const roles = (property(found.text, 'process.roles') ?? 'broker').split(',').map((r) => r.trim());
    if (!roles.includes('broker')) {
      return {
        exposed: false,
        reason: 'not-a-broker',
        message: `process.roles=${roles.join(',')} in ${where}`,
      };
    }
    const advertised = parseListeners(property(found.text, 'advertised.listeners') ?? '');
    const listener = chooseListener(
      advertised,
      config.listener,
      // Unset, Kafka's inter-broker listener is the one named after its protocol: never ours.
      property(found.text, 'inter.broker.listener.name') ?? defaultInterBrokerListener(advertised),
    );
    const names = advertised.map((l) => l.name).join(', ') || 'none';
    if (!listener) {
      return unsupported(
        `advertised.listeners in ${where}: ${names}; no listener ${config.listener === 'auto' ? 'facing clients' : config.listener}`,
      );
    }
    const bound = parseListeners(property(found.text, 'listeners') ?? '').find(
      (l) => l.name === listener.name,
    );
    const containerPort = bound && /^\d+$/.test(bound.port) ? Number(bound.port) : undefined;
    if (containerPort === undefined) return unsupported(`listeners in ${where} do not bind ${listener.name}`);

    const copyFile = `${COPY_MOUNT}/${found.file.path}`;
    const desired: Container = {
      name: INIT_CONTAINER_NAME,
      image: broker.image ?? '',
      ...(broker.imagePullPolicy ? { imagePullPolicy: broker.imagePullPolicy } : {}),
      command: ['/bin/sh', '-c', COPY_SCRIPT],
      env: [
        hostIpEnvVar(),
        { name: 'INJECTOR_LISTENER', value: listener.name },
        { name: 'INJECTOR_LISTENER_PORT', value: String(containerPort) },
        { name: 'INJECTOR_NODE_PORT', value: String(config.nodePort) },
        { name: 'INJECTOR_SOURCE_DIR', value: SOURCE_MOUNT },
        { name: 'INJECTOR_COPY_DIR', value: COPY_MOUNT },
        { name: 'INJECTOR_CONFIG_FILE', value: copyFile },
      ],
      volumeMounts: [
        { name: found.volume, mountPath: SOURCE_MOUNT, readOnly: true },
        { name: COPY_VOLUME, mountPath: COPY_MOUNT },
      ],
      // The broker already satisfies the namespace's pod security level.
      ...(broker.securityContext ? { securityContext: broker.securityContext } : {}),
    };
    ensureLastInitContainer(builder, spec, desired, config);
    if (!(spec.volumes ?? []).some((v) => v.name === COPY_VOLUME)) {
      builder.add(pointer(...TEMPLATE_SPEC, 'volumes', '-'), { name: COPY_VOLUME, emptyDir: {} });
    }
    if (found.mount.name !== COPY_VOLUME) {
      builder.replace(
        pointer(...TEMPLATE_SPEC, 'containers', index, 'volumeMounts', found.mountIndex, 'name'),
        COPY_VOLUME,
      );
    }
    return {
      exposed: true,
      exposure: {
        family: 'mounted-config',
        listener: listener.name,
        containerPort,
        advertised: `${listener.name}://$(${HOST_IP_ENV}):${String(config.nodePort)}`,
        hostReader: { container: 'injected-init' },
      },
      changes: [`initContainer ${INIT_CONTAINER_NAME}: edited copy of ${where}`, `volume ${COPY_VOLUME}`],
    };
  },
};
