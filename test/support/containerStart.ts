/**
 * An independent simulation of a broker pod starting, used to judge the mutation core by its
 * effect rather than by its patch. It runs, for real, the scripts the pod would run — the chart's
 * own command, our init container, our command wrapper — with `sh`/`bash` in a scratch directory
 * that stands in for the container's file system: volumes become directories, ConfigMap volumes
 * are filled from the same render, and the image's Kafka entrypoints are stubs that print the
 * configuration Kafka would start with.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Container, StatefulSet } from '../../src/core/kubeTypes.ts';
import { containerEnv, expandedCommand, type PodFacts } from './kubeletExpansion.ts';

export interface BrokerStart {
  advertised: string;
  listeners: string;
}

interface ConfigMapObject {
  kind: 'ConfigMap';
  metadata: { name: string };
  data?: Record<string, string>;
}

interface SecretObject {
  kind: 'Secret';
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const PRINT_CONFIG = "printf 'advertised.listeners=%s\\nlisteners=%s\\n'";

/**
 * bitnami's image maps KAFKA_CFG_* env to server.properties, after copying each legacy KAFKA_*
 * name that is defined (even empty) over its KAFKA_CFG_* twin (libkafka.sh's alias list).
 */
const BITNAMI_ENTRYPOINT = `${PRINT_CONFIG} "\${KAFKA_ADVERTISED_LISTENERS-$KAFKA_CFG_ADVERTISED_LISTENERS}" "\${KAFKA_LISTENERS-$KAFKA_CFG_LISTENERS}"`;

/** Image entrypoints, replaced by stubs that print what Kafka would be configured with. */
const IMAGE_STUBS: Record<string, string> = {
  // bitnami 12–22 (the chart's setup.sh ends in it), and the later images' own path.
  '/entrypoint.sh': BITNAMI_ENTRYPOINT,
  '/opt/bitnami/scripts/kafka/entrypoint.sh': BITNAMI_ENTRYPOINT,
  // Confluent: listeners default to the advertised list with every host replaced by 0.0.0.0.
  '/etc/confluent/docker/run': `${PRINT_CONFIG} "$KAFKA_ADVERTISED_LISTENERS" "\${KAFKA_LISTENERS:-$(printf %s "$KAFKA_ADVERTISED_LISTENERS" | sed -E 's#//[^,]*:#//0.0.0.0:#g')}"`,
  // apache/kafka's default command: KAFKA_FOO_BAR env becomes foo.bar.
  '/etc/kafka/docker/run': `${PRINT_CONFIG} "$KAFKA_ADVERTISED_LISTENERS" "$KAFKA_LISTENERS"`,
  // Apache image: the script hands a properties file to kafka-server-start.sh.
  '/opt/kafka/bin/kafka-server-start.sh': `grep -E '^(advertised\\.)?listeners=' "$1"`,
  '/opt/kafka/bin/kafka-storage.sh': 'exit 0',
};

function isConfigMap(object: unknown): object is ConfigMapObject {
  return typeof object === 'object' && object !== null && (object as { kind?: unknown }).kind === 'ConfigMap';
}

function isSecret(object: unknown): object is SecretObject {
  return typeof object === 'object' && object !== null && (object as { kind?: unknown }).kind === 'Secret';
}

/** A Secret's keys as the kubelet writes them into a volume (`stringData` as the API server merges it). */
function secretFiles(secret: SecretObject): Record<string, string> {
  const decoded = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
  return { ...decoded, ...secret.stringData };
}

/**
 * Rewrites absolute container paths in script text to their places in the scratch directory, in
 * one pass (longest path first), so a path already rewritten is never rewritten again.
 */
function pathRewriter(paths: Map<string, string>): (text: string) => string {
  const ordered = [...paths.keys()].sort((a, b) => b.length - a.length);
  if (ordered.length === 0) return (text) => text;
  const alternatives = ordered.map((path) => path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const pattern = new RegExp(`(?<![\\w./-])(${alternatives})(?=$|[/\\s"';:)&|])`, 'gm');
  return (text) => text.replace(pattern, (path) => paths.get(path) ?? path);
}

function run(argv: string[], env: Map<string, string>, cwd: string): string {
  const [program = 'sh', ...args] = argv;
  const result = spawnSync(program, args, {
    cwd,
    encoding: 'utf8',
    env: { ...Object.fromEntries(env), PATH: process.env.PATH ?? '/usr/bin:/bin' },
    timeout: 10_000,
  });
  if (result.status !== 0) {
    throw new Error(`${argv.join(' ').slice(0, 200)} exited ${String(result.status)}: ${result.stderr}`);
  }
  return result.stdout;
}

function lastValue(output: string, key: string): string {
  const lines = output.split('\n').filter((l) => l.startsWith(`${key}=`));
  const line = lines.at(-1);
  if (line === undefined) throw new Error(`no ${key} in:\n${output}`);
  return line.slice(key.length + 1);
}

/**
 * bitnami 24+ chart init (kafka-init.sh / prepare-config): copy the ConfigMap's server.properties
 * into the shared emptyDir and put the pod's DNS name in place of the placeholder.
 */
function chartRenderConfig(
  sts: StatefulSet,
  container: Container,
  podName: string,
  mounts: Map<string, string>,
  namespace: string,
): void {
  const source = [...mounts.entries()].find(([p]) => p.startsWith('/configmaps'))?.[1];
  const target = container.volumeMounts?.find((m) => m.mountPath === '/config');
  if (!source || !target) return;
  const role = /-(controller|broker)-\d+$/.exec(podName)?.[1] ?? 'controller';
  const fullname = (sts.metadata?.name ?? '').replace(/-(controller|broker)$/, '');
  const dns = `${podName}.${fullname}-${role}-headless.${namespace}.svc.cluster.local`;
  const file = join(mounts.get('/config') ?? '', 'server.properties');
  writeFileSync(
    file,
    readFileSync(join(source, 'server.properties'), 'utf8').replaceAll('advertised-address-placeholder', dns),
  );
}

export function startBroker(
  objects: unknown[],
  sts: StatefulSet,
  ordinal: number,
  facts: Omit<PodFacts, 'name'>,
): BrokerStart {
  const spec = sts.spec.template.spec;
  const pod: PodFacts = { ...facts, name: `${sts.metadata?.name ?? 'pod'}-${String(ordinal)}` };
  const root = mkdtempSync(join(tmpdir(), 'broker-start-'));
  try {
    // The container's own /tmp (start scripts write their properties file there).
    const stubs = new Map<string, string>([['/tmp', join(root, 'container-tmp')]]);
    mkdirSync(join(root, 'container-tmp'));
    for (const [path, body] of Object.entries(IMAGE_STUBS)) {
      const file = join(root, 'image', path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `#!/bin/sh\n${body}\n`);
      chmodSync(file, 0o755);
      stubs.set(path, file);
    }
    // Every volume is a directory; ConfigMap volumes hold their keys as files, whose scripts see
    // paths as the container running them does.
    const volumeDir = (name: string, rewrite: (text: string) => string = (x) => x): string => {
      const dir = join(root, 'volumes', name);
      mkdirSync(dir, { recursive: true });
      const volume = spec.volumes?.find((v) => v.name === name);
      const configMap = objects.find((o) => isConfigMap(o) && o.metadata.name === volume?.configMap?.name);
      if (isConfigMap(configMap)) {
        // As the kubelet projects them: every key at its name, or only `items`, each at its path.
        const data = configMap.data ?? {};
        const files = volume?.configMap?.items ?? Object.keys(data).map((key) => ({ key, path: key }));
        for (const { key, path } of files) {
          const file = join(dir, path);
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, rewrite(data[key] ?? ''));
          chmodSync(file, 0o755);
        }
      }
      const secretName = (volume?.['secret'] as { secretName?: string } | undefined)?.secretName;
      const secret = objects.find((o) => isSecret(o) && o.metadata.name === secretName);
      if (isSecret(secret)) {
        for (const [key, value] of Object.entries(secretFiles(secret))) writeFileSync(join(dir, key), value);
      }
      return dir;
    };
    const mountsOf = (container: Container): Map<string, string> => {
      const paths = new Map(stubs);
      for (const mount of container.volumeMounts ?? []) {
        const dir = volumeDir(mount.name);
        paths.set(mount.mountPath, mount.subPath ? join(dir, mount.subPath) : dir);
      }
      return paths;
    };
    const execute = (container: Container): string => {
      const mounts = mountsOf(container);
      const rewrite = pathRewriter(mounts);
      for (const mount of container.volumeMounts ?? []) volumeDir(mount.name, rewrite);
      const env = new Map([...containerEnv(container, pod)].map(([k, v]) => [k, rewrite(v)]));
      env.set('HOSTNAME', pod.name);
      return run(expandedCommand(container, env).map(rewrite), env, root);
    };

    for (const init of spec.initContainers ?? []) {
      if (init.name === 'kafka-nodeport-injector') execute(init);
      else chartRenderConfig(sts, init, pod.name, mountsOf(init), pod.namespace);
    }
    const broker = spec.containers.find((c) => /kafka/i.test(c.name) && !/exporter/i.test(c.name));
    if (!broker) throw new Error('no broker container');
    if (broker.command ?? broker.args) {
      const output = execute(broker);
      return {
        advertised: lastValue(output, 'advertised.listeners'),
        listeners: lastValue(output, 'listeners'),
      };
    }
    // No command: the image starts Kafka on the file the init containers rendered…
    const mount = broker.volumeMounts?.find((m) => m.mountPath.endsWith('/server.properties'));
    const env = containerEnv(broker, pod);
    if (!mount && env.has('KAFKA_ADVERTISED_LISTENERS')) {
      // … or, apache/kafka and Confluent images, on its env: KAFKA_FOO_BAR becomes foo.bar.
      return {
        advertised: env.get('KAFKA_ADVERTISED_LISTENERS') ?? '',
        listeners: env.get('KAFKA_LISTENERS') ?? '',
      };
    }
    if (!mount) throw new Error('broker has neither a command nor a rendered server.properties');
    const rendered = join(root, 'rendered.properties');
    copyFileSync(join(volumeDir(mount.name), mount.subPath ?? 'server.properties'), rendered);
    const text = readFileSync(rendered, 'utf8');
    return { advertised: lastValue(text, 'advertised.listeners'), listeners: lastValue(text, 'listeners') };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
