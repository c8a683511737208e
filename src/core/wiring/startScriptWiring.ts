/**
 * Start-script-render family (charts on the official apache/kafka image, e.g. HelmForge): the
 * broker container runs a script from a ConfigMap volume that writes a properties file and then
 * starts the broker with `kafka-server-start.sh <file>`. The file exists only once the script has
 * run, so it is edited at that moment: the container runs our shell, which evaluates the chart's
 * script with its `kafka-server-start.sh` call routed through a function that rewrites the exposed
 * listener's `advertised.listeners` entry in that file and then starts the broker as the script
 * would have.
 *
 * What is decided here comes from the script text and the container: the listener (bound in the
 * script as `NAME://:port`) and its port. A script that renders the file from `KAFKA_*` env instead
 * is left to the env families, which edit that env. A pod that declares no container port for that listener
 * serves no clients (a KRaft controller of a split cluster) and is left alone.
 */
import { OUTSIDE_LISTENER_NAMES } from '../advertisedListeners.ts';
import { configMapFileAt, type ConfigMaps } from '../configMaps.ts';
import type { Container, PodSpec } from '../kubeTypes.ts';
import { advertisesThroughEnv } from './envExposure.ts';
import { HOST_FROM_NODE_IP, INJECTED_MARKER } from './shellSnippets.ts';
import { originalCommand, wrapCommand } from './commandWrapper.ts';
import { unsupported, type Wiring, type WiringInput, type WiringOutcome } from './wiring.ts';

const SHELL = '/bin/sh';
const START_FUNCTION = 'kni_kafka_server_start';

export interface StartScript {
  /** The script's path in the container. */
  path: string;
  configMap: string;
  /** Its text, when the ConfigMap is in view. */
  text: string | undefined;
}

/** A file the container runs or reads (a word of its command or args) that lives in a ConfigMap volume. */
export function startScriptOf(
  container: Container,
  spec: PodSpec,
  configMaps: ConfigMaps,
): StartScript | undefined {
  const words = [...originalCommand(container, SHELL), ...(container.args ?? [])].flatMap((w) =>
    w.split(/\s+/),
  );
  for (const mount of container.volumeMounts ?? []) {
    const volume = spec.volumes?.find((v) => v.name === mount.name);
    const name = volume?.configMap?.name;
    if (name === undefined || name === null) continue;
    for (const word of words) {
      const file = configMapFileAt(mount, volume, word);
      if (file !== undefined) return { path: word, configMap: name, text: configMaps.get(name)?.[file.key] };
    }
  }
  return undefined;
}

/** `kafka-server-start.sh`, with the path the script calls it by. */
function serverStartPath(script: string): string | undefined {
  return /(?:^|[\s;&|"'])((?:\/[^\s"';&|]*\/)?kafka-server-start\.sh)(?=[\s"';&|]|$)/m.exec(script)?.[1];
}

/** Every `NAME://:port` (or `NAME://0.0.0.0:port`) the script binds, port numbers by listener. */
function boundListeners(script: string): Map<string, Set<number>> {
  const bound = new Map<string, Set<number>>();
  for (const match of script.matchAll(/\b([A-Z][A-Z0-9_]*):\/\/(?:0\.0\.0\.0|\[::\])?:(\d{1,5})\b/g)) {
    const [, name = '', port = ''] = match;
    const ports = bound.get(name) ?? new Set<number>();
    ports.add(Number(port));
    bound.set(name, ports);
  }
  return bound;
}

function chooseBoundListener(requested: string, bound: Map<string, Set<number>>): string | undefined {
  if (requested !== 'auto') return bound.has(requested) ? requested : undefined;
  return [...OUTSIDE_LISTENER_NAMES, 'CLIENT'].find((name) => bound.has(name));
}

const quoteSingle = (text: string): string => `'${text.replaceAll("'", `'"'"'`)}'`;

/**
 * POSIX sh (the apache/kafka image is Alpine: busybox). `exec` cannot call a function, so both
 * `exec …kafka-server-start.sh` and a plain call become a call of ours, which execs it in turn.
 */
export function startScriptWrapper(
  script: string,
  start: string,
  listener: string,
  nodePort: number,
): string {
  const edit = `s#^(advertised\\.listeners=(.*,)?)${listener}://[^,]*#\\1${listener}://$host:${String(nodePort)}#`;
  const route = [
    `s#(^|[;&|[:space:]])exec[[:space:]]+([^[:space:]"';&|]*/)?kafka-server-start\\.sh#\\1${START_FUNCTION}#g`,
    `s#(^|[;&|[:space:]"'])([^[:space:]"';&|]*/)?kafka-server-start\\.sh#\\1${START_FUNCTION}#g`,
  ];
  return `${INJECTED_MARKER}
set -e
${START_FUNCTION}() {
  for kni_file do :; done
  ${HOST_FROM_NODE_IP.replaceAll('\n', '\n  ')}
  sed -i -E ${quoteSingle(edit).replace('$host', `'"$host"'`)} "$kni_file"
  exec ${start} "$@"
}
set --
eval "$(sed -E ${route.map((r) => `-e ${quoteSingle(r)}`).join(' ')} ${quoteSingle(script)})"
`;
}

/** Whether a container runs or reads a file from a ConfigMap (a start script, a server.properties). */
export function readsConfigMapFile(spec: PodSpec): boolean {
  return spec.containers.some((c) => startScriptOf(c, spec, new Map()) !== undefined);
}

/** Whether a container runs a ConfigMap script that starts the broker (`kafka-server-start.sh`). */
export function runsKafkaStartScript(spec: PodSpec, configMaps: ConfigMaps): boolean {
  return spec.containers.some((c) => {
    const text = startScriptOf(c, spec, configMaps)?.text;
    return text !== undefined && serverStartPath(text) !== undefined;
  });
}

/**
 * A script that binds no listener of its own but reads `KAFKA_*` env, in a container that carries
 * its advertised listeners in env: it renders the properties file from that env, as
 * wurstmeister-style images do (`KAFKA_FOO_BAR` → `foo.bar`). Then the env is what to edit (the
 * env families), before the script runs, rather than the file it writes.
 */
function rendersFromEnv(script: string, container: Container): boolean {
  return boundListeners(script).size === 0 && /\bKAFKA_/.test(script) && advertisesThroughEnv(container);
}

export const startScriptWiring: Wiring = {
  family: 'start-script-render',

  brokerIndex(spec: PodSpec, configMaps: ConfigMaps): number {
    return spec.containers.findIndex((c) => {
      const script = startScriptOf(c, spec, configMaps);
      if (script === undefined) return false;
      if (script.text === undefined) return true;
      return serverStartPath(script.text) !== undefined && !rendersFromEnv(script.text, c);
    });
  },

  apply(input: WiringInput): WiringOutcome {
    const { config, container, sts, configMaps } = input;
    const spec = sts.spec.template.spec;
    const script = startScriptOf(container, spec, configMaps);
    if (!script) return unsupported('no start script from a ConfigMap in the command');
    if (script.text === undefined) {
      return unsupported(
        `the start script ${script.path} is in ConfigMap ${script.configMap}, which is not in view`,
      );
    }
    const start = serverStartPath(script.text);
    if (!start) return unsupported(`the start script ${script.path} does not run kafka-server-start.sh`);
    const bound = boundListeners(script.text);
    const names = [...bound.keys()].join(', ') || 'none';
    const listener = chooseBoundListener(config.listener, bound);
    if (!listener) {
      const wanted = config.listener === 'auto' ? 'EXTERNAL, OUTSIDE or CLIENT' : config.listener;
      return unsupported(`start script ${script.path} binds listeners ${names}; no ${wanted}`);
    }
    const ports = [...(bound.get(listener) ?? [])];
    const [containerPort] = ports;
    if (containerPort === undefined || ports.length > 1) {
      return unsupported(`start script ${script.path} binds ${listener} on ports ${ports.join(', ')}`);
    }
    if (!(container.ports ?? []).some((p) => p.containerPort === containerPort)) {
      return {
        exposed: false,
        reason: 'not-a-broker',
        message: `the container declares no port ${String(containerPort)} for listener ${listener} of ${script.path}: it serves no clients (a KRaft controller)`,
      };
    }

    return wrapCommand(
      input,
      SHELL,
      startScriptWrapper(script.path, start, listener, config.nodePort),
      { family: 'start-script-render', listener, containerPort },
      `command wrapped: ${script.path} starts Kafka with ${listener} advertised`,
    );
  },
};
