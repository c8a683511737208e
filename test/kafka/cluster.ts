// Deploying a rendered bitnami/kafka release onto the lab: ZooKeeper from the chart's ZooKeeper
// StatefulSet env, the brokers from the Kafka StatefulSet (podEnv -> bitnamiBroker -> kafka.Kafka),
// pods placed by the scheduler emulation, pod /etc/hosts and cluster DNS names as hosts entries,
// the client Service's NodePort as kube-proxy DNAT rules.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { apacheServerProperties } from './apacheBroker.ts';
import { bitnamiServerProperties, type BrokerConfig } from './bitnamiBroker.ts';
import {
  clientService,
  kafkaContainer,
  kafkaStatefulSet,
  resolveTargetPort,
  setupScript,
  zookeeperStatefulSet,
  type K8sObject,
  type Service,
  type StatefulSet,
} from './chart.ts';
import { fourLetter, sleep, waitForLog, type Lab, type LabHost, type LabProcess } from './lab.ts';
import { containerRuntime, type ContainerRuntime } from './podEnv.ts';
import { HOST_PRELUDE_MARKER } from '../../src/core/advertisedHost.ts';
import { NODE_ADDRESS_MAP, NODE_ADDRESS_MOUNT } from '../../src/core/nodeAddresses.ts';
import { schedule } from './scheduler.ts';

export const NAMESPACE = 'kafka'; // the namespace the renders were made for (helm template --namespace kafka)
export const CLUSTER_DOMAIN = 'cluster.local';

export interface Settings {
  libs: string; // directory of jars
  workDir: string;
  heapOpts: string; // replaces the chart's KAFKA_HEAP_OPTS (1 GiB) to fit a 2-core test machine
  log: (msg: string) => void;
}

export interface BrokerPod {
  name: string;
  ordinal: number;
  host: LabHost;
  config: BrokerConfig;
  propertiesFile: string;
  proc?: LabProcess;
}

export interface Release {
  sts: StatefulSet;
  service: Service;
  pods: BrokerPod[];
  zookeeper?: { host: LabHost; proc: LabProcess; port: number };
}

const LOG4J = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.zookeeper=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
`;

function javaArgs(s: Settings, heap: string, logsDir: string, mainClass: string, args: string[]): string[] {
  const log4j = join(s.workDir, 'log4j.properties');
  writeFileSync(log4j, LOG4J);
  return [
    'java',
    ...heap.split(/\s+/).filter(Boolean),
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    '-Djava.net.preferIPv4Stack=true',
    `-Dlog4j.configuration=file:${log4j}`,
    `-Dkafka.logs.dir=${logsDir}`,
    '-cp',
    `${s.libs}/*`,
    mainClass,
    ...args,
  ];
}

/** Kafka admin tool (e.g. TopicCommand), run from the root namespace, or inside a lab host's
 * namespace (like `kubectl exec` into a pod: cluster DNS names resolve there). */
export function kafkaTool(s: Settings, mainClass: string, args: string[], inside?: LabHost): string {
  const argv = javaArgs(s, '-Xmx256m', join(s.workDir, 'tools-logs'), mainClass, args);
  const [cmd, ...rest] = inside ? ['ip', 'netns', 'exec', inside.ns, ...argv] : argv;
  return execFileSync(cmd ?? 'java', rest, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
}

function podDns(sts: StatefulSet, pod: string): string {
  return `${pod}.${sts.spec.serviceName}.${NAMESPACE}.svc.${CLUSTER_DOMAIN}`;
}

/** Start ZooKeeper (standalone, as the chart's single-replica ZooKeeper StatefulSet) on its own host. */
export async function startZooKeeper(
  lab: Lab,
  s: Settings,
  objects: K8sObject[],
  host: LabHost,
): Promise<Release['zookeeper']> {
  const zk = zookeeperStatefulSet(objects);
  if (!zk) throw new Error('render has no ZooKeeper StatefulSet');
  const container = zk.spec.template.spec.containers[0];
  if (!container) throw new Error('ZooKeeper StatefulSet has no container');
  const pod = `${zk.metadata.name}-0`;
  const rt = containerRuntime(container, {
    name: pod,
    namespace: NAMESPACE,
    nodeName: host.name,
    hostIP: host.ip,
    podIP: host.ip,
  });
  const env = rt.env;
  const port = Number(env.get('ZOO_PORT_NUMBER') ?? '2181');
  const dir = join(s.workDir, pod);
  mkdirSync(join(dir, 'data'), { recursive: true });
  // What the bitnami/zookeeper image writes to zoo.cfg from these variables (standalone server).
  const cfg = [
    `tickTime=${env.get('ZOO_TICK_TIME') ?? '2000'}`,
    `initLimit=${env.get('ZOO_INIT_LIMIT') ?? '10'}`,
    `syncLimit=${env.get('ZOO_SYNC_LIMIT') ?? '5'}`,
    `maxClientCnxns=${env.get('ZOO_MAX_CLIENT_CNXNS') ?? '60'}`,
    `maxSessionTimeout=${env.get('ZOO_MAX_SESSION_TIMEOUT') ?? '40000'}`,
    `4lw.commands.whitelist=${(env.get('ZOO_4LW_COMMANDS_WHITELIST') ?? 'srvr, mntr, ruok').replaceAll(' ', '')}`,
    `autopurge.purgeInterval=${env.get('ZOO_AUTOPURGE_INTERVAL') ?? '0'}`,
    `autopurge.snapRetainCount=${env.get('ZOO_AUTOPURGE_RETAIN_COUNT') ?? '3'}`,
    `dataDir=${join(dir, 'data')}`,
    `clientPort=${port}`,
    'admin.enableServer=false',
  ].join('\n');
  writeFileSync(join(dir, 'zoo.cfg'), cfg + '\n');
  const svc = zk.spec.serviceName; // headless
  const names = [
    pod,
    podDns(zk, pod),
    zk.metadata.name,
    `${zk.metadata.name}.${NAMESPACE}.svc.${CLUSTER_DOMAIN}`,
    `${svc}.${NAMESPACE}.svc.${CLUSTER_DOMAIN}`,
  ];
  lab.writeHosts(host, [[host.ip, names]]);
  const proc = lab.start(
    pod,
    host,
    pod,
    javaArgs(s, '-Xmx128m', join(dir, 'logs'), 'org.apache.zookeeper.server.ZooKeeperServerMain', [
      join(dir, 'zoo.cfg'),
    ]),
    join(dir, 'zookeeper.log'),
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== undefined)
      throw new Error(`ZooKeeper exited (${String(proc.exitCode)}), see ${proc.logFile}`);
    if ((await fourLetter(host.ip, port, 'ruok', 1000)) === 'imok') {
      s.log(`ZooKeeper ${pod} ready at ${host.ip}:${port}`);
      return { host, proc, port };
    }
    await sleep(500);
  }
  throw new Error(`ZooKeeper did not answer ruok within 60 s, see ${proc.logFile}`);
}

export interface PrepareOptions {
  replicas?: number; // overrides spec.replicas (emulating --set replicaCount)
  /** Where each pod runs, as a real scheduler bound it; default: the scheduler emulation. */
  placements?: { pod: string; node: string; reason?: string }[];
  /**
   * The image the brokers run: bitnami (the chart's /scripts/setup.sh, then the image's env rules;
   * the default) or the official apache/kafka image configured by env (no command).
   */
  image?: 'bitnami' | 'apache';
}

/** Schedule the Kafka StatefulSet's pods onto the lab's nodes and compute every broker's config. */
/**
 * The advertised-host prelude (address-type other than InternalIP) runs for real, in `sh`, with
 * the stored node-address ConfigMap as its mount; it ends in `exec "$0" "$@"`, here `env -0`, so
 * what it exports is the environment the broker's own command then starts with.
 */
function throughHostPrelude(objects: K8sObject[], dir: string, rt: ContainerRuntime): ContainerRuntime {
  const [shell, flag, script] = rt.command;
  if (shell !== '/bin/sh' || flag !== '-c' || !script?.startsWith(HOST_PRELUDE_MARKER)) return rt;
  const map: (K8sObject & { data?: Record<string, string> }) | undefined = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === NODE_ADDRESS_MAP,
  );
  const mount = join(dir, 'node-addresses');
  mkdirSync(mount, { recursive: true });
  for (const [node, entry] of Object.entries(map?.data ?? {})) writeFileSync(join(mount, node), entry);
  const out = execFileSync('sh', ['-c', script.replaceAll(NODE_ADDRESS_MOUNT, mount), 'env', '-0'], {
    env: { ...Object.fromEntries(rt.env), PATH: process.env.PATH ?? '/usr/bin:/bin' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exported = new Map(
    out
      .split('\0')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
  );
  // Only what the container had: the shell adds PWD, SHLVL and the like.
  const env = new Map([...rt.env].map(([k, v]) => [k, exported.get(k) ?? v]));
  return { ...rt, env, command: rt.command.slice(3) };
}

export function prepareBrokers(
  lab: Lab,
  s: Settings,
  objects: K8sObject[],
  nodes: LabHost[],
  opts: PrepareOptions = {},
): Release {
  const sts = kafkaStatefulSet(objects);
  const service = clientService(objects, sts);
  const replicas = opts.replicas ?? sts.spec.replicas ?? 1;
  const podLabels = sts.spec.template.metadata?.labels ?? {};
  const placements =
    opts.placements ?? schedule(sts.metadata.name, replicas, podLabels, sts.spec.template.spec, nodes);
  const image = opts.image ?? 'bitnami';
  const script = image === 'bitnami' ? setupScript(objects, sts) : '';
  const container = kafkaContainer(sts);
  const pods: BrokerPod[] = [];
  for (const [ordinal, p] of placements.entries()) {
    const host = nodes.find((n) => n.name === p.node);
    if (!host) throw new Error(`pod ${p.pod} is Pending: ${p.reason ?? 'unschedulable'}`);
    const dir = join(s.workDir, p.pod);
    const rt = throughHostPrelude(
      objects,
      dir,
      containerRuntime(container, {
        name: p.pod,
        namespace: NAMESPACE,
        nodeName: host.name,
        hostIP: host.ip,
        podIP: host.ip, // one pod per node namespace: the pod shares the node's address
        serviceAccountName: 'my-kafka',
        // The StatefulSet controller labels each pod with its ordinal (Kubernetes 1.28+).
        labels: { ...podLabels, 'apps.kubernetes.io/pod-index': String(ordinal) },
      }),
    );
    const expected = image === 'bitnami' ? '/scripts/setup.sh' : '';
    if (rt.command.join(' ') !== expected) throw new Error(`unexpected command ${rt.command.join(' ')}`);
    mkdirSync(join(dir, 'volume'), { recursive: true });
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const config =
      image === 'bitnami'
        ? bitnamiServerProperties(rt.env, script, {
            hostPaths: {
              '/bitnami/kafka': join(dir, 'volume'),
              '/opt/bitnami/kafka/logs': join(dir, 'logs'),
            },
          })
        : apacheServerProperties(rt.env, { hostPaths: { '/var/lib/kafka': join(dir, 'volume') } });
    const propertiesFile = join(dir, 'server.properties');
    writeFileSync(propertiesFile, config.serverProperties);
    pods.push({ name: p.pod, ordinal, host, config, propertiesFile });
  }
  // Cluster DNS as each node sees it: every pod's headless name, the pod's own hostname entry
  // (kubelet-managed /etc/hosts), and ZooKeeper's Service names when there is one.
  for (const pod of pods) {
    const entries: [string, string[]][] = [];
    for (const other of pods) {
      const names = [podDns(sts, other.name)];
      if (other === pod) names.push(other.name);
      entries.push([other.host.ip, names]);
    }
    const zk = zookeeperStatefulSet(objects);
    const zkHost = lab.hosts.find((h) => h.name === 'zookeeper');
    if (zk && zkHost) {
      entries.push([
        zkHost.ip,
        [
          zk.metadata.name,
          `${zk.metadata.name}.${NAMESPACE}.svc.${CLUSTER_DOMAIN}`,
          podDns(zk, `${zk.metadata.name}-0`),
        ],
      ]);
    }
    lab.writeHosts(pod.host, entries);
  }
  return { sts, service, pods };
}

/** kube-proxy: the client Service's nodePort(s) on every node that runs a pod (externalTrafficPolicy
 * Local: only to the local pod; Cluster would also forward to remote pods — not needed here). */
export function applyNodePorts(lab: Lab, release: Release): { nodePort: number; targetPort: number }[] {
  if (release.service.spec.type !== 'NodePort' && release.service.spec.type !== 'LoadBalancer') return [];
  const out: { nodePort: number; targetPort: number }[] = [];
  for (const port of release.service.spec.ports ?? []) {
    if (port.nodePort === undefined || port.nodePort === null) continue;
    const targetPort = resolveTargetPort(release.sts, port.targetPort, port.port);
    for (const pod of release.pods) lab.addNodePort(pod.host, port.nodePort, pod.host.ip, targetPort);
    out.push({ nodePort: port.nodePort, targetPort });
  }
  return out;
}

/** `kafka-storage.sh format` as the image's kraft_initialize does, when KRaft is on. */
export function formatKraftStorage(s: Settings, pod: BrokerPod): void {
  const id = pod.config.kraftClusterId;
  if (id === undefined) return;
  kafkaTool(s, 'kafka.tools.StorageTool', [
    'format',
    '--config',
    pod.propertiesFile,
    '--cluster-id',
    id,
    '--ignore-formatted',
  ]);
}

export function startBroker(lab: Lab, s: Settings, pod: BrokerPod): LabProcess {
  const dir = join(s.workDir, pod.name);
  pod.proc = lab.start(
    pod.name,
    pod.host,
    pod.name,
    javaArgs(s, s.heapOpts, join(dir, 'logs'), 'kafka.Kafka', [pod.propertiesFile]),
    join(dir, 'kafka.log'),
  );
  return pod.proc;
}

export const BROKER_STARTED =
  /\] started \(kafka\.server\.(KafkaServer|KafkaRaftServer|BrokerServer)\)|Kafka Server started/;

export async function waitBroker(pod: BrokerPod, timeoutMs: number): Promise<'ready' | 'exited' | 'timeout'> {
  if (!pod.proc) throw new Error(`${pod.name} not started`);
  return waitForLog(pod.proc, BROKER_STARTED, timeoutMs);
}
