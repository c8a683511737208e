// Real-Kafka proof (issue 7): `npm run test:kafka` (= node test/kafka/run.ts). Needs root (network
// namespaces, iptables), Java 17, and ../shared (the chart renders). See test/kafka/README.md.
//
//   A  unmutated bitnami 12.9.5 (ZooKeeper) with one fixed OUTSIDE://1.1.1.1:9094 for every broker:
//      the 2nd and 3rd brokers die with "already registered by broker".
//   B  the same release mutated by bin/kafka-nodeport-injector: 3 brokers each at <node IP>:31980
//      through a kube-proxy-style NodePort; 1,000 keyed messages (RF 3) in via node1, out via node2.
//   C  KRaft (bitnami 22.1.6, replicaCount=3): mutated release works the same way; unmutated with one
//      fixed advertised endpoint: what KRaft does (finding, see README).
//
// Exit code 0 only when every test passed; the last line is `N passed, N failed`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bitnamiServerProperties, parseSetupScript } from './bitnamiBroker.ts';
import {
  kafkaContainer,
  kafkaStatefulSet,
  loadManifests,
  parseManifests,
  resolveTargetPort,
  setupScript,
  statefulSets,
  toYaml,
  type K8sObject,
} from './chart.ts';
import {
  applyNodePorts,
  formatKraftStorage,
  kafkaTool,
  NAMESPACE,
  prepareBrokers,
  startBroker,
  startZooKeeper,
  waitBroker,
  type BrokerPod,
  type Release,
  type Settings,
} from './cluster.ts';
import { Lab, readLog, sleep, type LabHost } from './lab.ts';
import { mutateByHand, mutateWithCli, REPO_ROOT, type Mutated } from './mutate.ts';
import { containerRuntime, expand } from './podEnv.ts';
import { schedule } from './scheduler.ts';
import { ADDRESS_TYPE_ANNOTATION, installThroughWebhook } from './throughWebhook.ts';
import { SEED_LISTENERS } from '../support/chartVariants.ts';

const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const log = (msg: string): void => {
  console.log(`[${elapsed()}] ${msg}`);
};

const SHARED = process.env.KNI_SHARED_DIR ?? join(REPO_ROOT, '..', 'shared');
const RENDER_ZK = join(SHARED, 'charts-rendered', 'bitnami-kafka-12.9.5_replicas3.yaml');
const RENDER_KRAFT = join(SHARED, 'charts-rendered', 'bitnami-kafka-22.1.6.default.yaml');
const NODE_SELECTOR = 'runapp=kafka';
const NODE_PORT = 31980;
const MESSAGES = Number(process.env.KNI_KAFKA_MESSAGES ?? '1000');

// ---------------------------------------------------------------- tiny test runner
interface Result {
  name: string;
  ok: boolean;
  seconds: number;
  error?: string;
}
const results: Result[] = [];
const activeLabs = new Set<Lab>();

class AssertionFailed extends Error {}
function assert(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new AssertionFailed(msg);
}
function eq<T>(actual: T, expected: T, what: string): void {
  assert(actual === expected, `${what}: expected ${String(expected)}, got ${String(actual)}`);
}

const ONLY = process.env.KNI_KAFKA_ONLY; // regex on test names, for debugging

async function test(name: string, fn: () => Promise<void> | void): Promise<void> {
  if (ONLY !== undefined && !name.startsWith('preconditions') && !new RegExp(ONLY).test(name)) return;
  const t = Date.now();
  log(`▶ ${name}`);
  try {
    await fn();
    results.push({ name, ok: true, seconds: (Date.now() - t) / 1000 });
    log(`✔ ${name} (${((Date.now() - t) / 1000).toFixed(1)}s)`);
  } catch (e) {
    const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    results.push({ name, ok: false, seconds: (Date.now() - t) / 1000, error });
    log(`✘ ${name} (${((Date.now() - t) / 1000).toFixed(1)}s)\n    ${error.replaceAll('\n', '\n    ')}`);
  }
}

function summary(): string {
  const passed = results.filter((r) => r.ok).length;
  return `${passed} passed, ${results.length - passed} failed`;
}

function cleanupAll(): void {
  for (const lab of activeLabs) lab.cleanup();
  activeLabs.clear();
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    cleanupAll();
    results.push({ name: `interrupted by ${sig}`, ok: false, seconds: 0 });
    console.log(summary());
    process.exit(130);
  });
}
process.on('exit', cleanupAll);

async function withLab<T>(fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = new Lab(log);
  activeLabs.add(lab);
  try {
    lab.createBridge();
    return await fn(lab);
  } finally {
    await lab.stopAll();
    lab.cleanup();
    activeLabs.delete(lab);
    const left = lab.leftovers();
    if (left.length > 0) log(`WARNING: left behind: ${left.join(', ')}`);
  }
}

// ---------------------------------------------------------------- helpers
/** kcat from the root namespace (an outside client), or inside a lab host's namespace. */
function kcat(
  args: string[],
  input?: string,
  timeoutMs = 60_000,
  inside?: LabHost,
): { code: number; stdout: string; stderr: string } {
  const cmd = inside ? 'ip' : 'kcat';
  const argv = inside ? ['netns', 'exec', inside.ns, 'kcat', ...args] : args;
  const r = spawnSync(cmd, argv, {
    input,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface KcatMetadata {
  brokers: { id: number; name: string }[];
  topics: {
    topic: string;
    partitions?: { partition: number; leader: number; replicas: { id: number }[]; isrs: { id: number }[] }[];
  }[];
}

function isMetadata(v: unknown): v is KcatMetadata {
  return (
    typeof v === 'object' &&
    v !== null &&
    Array.isArray((v as KcatMetadata).brokers) &&
    Array.isArray((v as KcatMetadata).topics)
  );
}

function metadata(bootstrap: string, topic?: string, inside?: LabHost): KcatMetadata {
  const r = kcat(
    ['-b', bootstrap, '-L', '-J', '-m', '15', ...(topic ? ['-t', topic] : [])],
    undefined,
    60_000,
    inside,
  );
  assert(r.code === 0, `kcat -L -J -b ${bootstrap} failed (${r.code}): ${r.stderr}`);
  const parsed: unknown = JSON.parse(r.stdout);
  assert(isMetadata(parsed), `unexpected kcat -J output: ${r.stdout.slice(0, 200)}`);
  return parsed;
}

function tail(file: string, lines = 25): string {
  return readLog(file).split('\n').slice(-lines).join('\n');
}

function settings(name: string): Settings {
  const workDir = join(WORK_BASE, name);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  return { libs: LIBS, workDir, heapOpts: process.env.KNI_KAFKA_HEAP ?? '-Xmx384m -Xms128m', log };
}

function addNodes(lab: Lab, count: number): LabHost[] {
  return Array.from({ length: count }, (_, i) => lab.addHost(`node${i + 1}`, 11 + i, { runapp: 'kafka' }));
}

function envValue(objects: K8sObject[], name: string): { set: (v: string) => void; get: () => string } {
  const env = kafkaContainer(kafkaStatefulSet(objects)).env ?? [];
  const entry = env.find((e) => e.name === name);
  if (!entry) throw new Error(`env ${name} not in the render`);
  return {
    get: () => entry.value ?? '',
    set: (v: string) => {
      entry.value = v;
    },
  };
}

/** Emulates `helm install --set listeners=…,advertisedListeners=…,listenerSecurityProtocolMap=…`
 * (bitnami 12-22 use those values verbatim for the three env vars): an extra listener advertising one
 * fixed host:port for every broker. */
function addFixedListener(objects: K8sObject[], name: string, bindPort: number, advertised: string): void {
  const listeners = envValue(objects, 'KAFKA_CFG_LISTENERS');
  const adv = envValue(objects, 'KAFKA_CFG_ADVERTISED_LISTENERS');
  const map = envValue(objects, 'KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP');
  listeners.set(`${listeners.get()},${name}://:${bindPort}`);
  adv.set(`${adv.get()},${name}://${advertised}`);
  map.set(`${map.get()},${name}:PLAINTEXT`);
}

function listenerOf(advertised: string | undefined, name: string): string | undefined {
  return (advertised ?? '')
    .split(',')
    .find((l) => l.startsWith(`${name}://`))
    ?.slice(name.length + 3);
}

function showAdvertised(rel: Release): void {
  for (const p of rel.pods) {
    log(
      `  ${p.name} on ${p.host.name} (${p.host.ip}) id=${p.config.properties.get('broker.id') ?? p.config.properties.get('node.id') ?? '?'} advertised.listeners=${p.config.properties.get('advertised.listeners') ?? ''}`,
    );
  }
}

async function startAllAndWait(lab: Lab, s: Settings, rel: Release, timeoutMs: number): Promise<void> {
  for (const pod of rel.pods) formatKraftStorage(s, pod);
  for (const pod of rel.pods) startBroker(lab, s, pod);
  const states = await Promise.all(rel.pods.map((p) => waitBroker(p, timeoutMs)));
  for (const [i, st] of states.entries()) {
    const pod = rel.pods[i] as BrokerPod;
    assert(st === 'ready', `${pod.name} did not start (${st}); log tail:\n${tail(pod.proc?.logFile ?? '')}`);
  }
  log(`all ${rel.pods.length} brokers started`);
}

/** The project's CLI; the hand-made stand-in only when KNI_KAFKA_MUTATOR=hand (harness debugging). */
function mutator(objects: K8sObject[], file: string): Mutated {
  return process.env.KNI_KAFKA_MUTATOR === 'hand'
    ? mutateByHand(objects, NODE_SELECTOR)
    : mutateWithCli(file, NODE_SELECTOR);
}

function checkMutation(m: Mutated): void {
  const sts = kafkaStatefulSet(m.objects);
  const env = kafkaContainer(sts).env ?? [];
  const hostIdx = env.findIndex(
    (e) => e.name === 'MY_HOST_IP' && e.valueFrom?.fieldRef?.fieldPath === 'status.hostIP',
  );
  const advIdx = env.findIndex((e) => e.name === 'KAFKA_CFG_ADVERTISED_LISTENERS');
  assert(hostIdx >= 0, 'mutated StatefulSet has no MY_HOST_IP from status.hostIP');
  assert(hostIdx < advIdx, 'MY_HOST_IP must be defined before KAFKA_CFG_ADVERTISED_LISTENERS');
  const adv = env[advIdx]?.value ?? '';
  assert(adv.includes(`CLIENT://$(MY_HOST_IP):${NODE_PORT}`), `CLIENT not rewritten: ${adv}`);
  assert(sts.spec.template.spec.nodeSelector?.runapp === 'kafka', 'nodeSelector runapp=kafka missing');
}

/** Produce `count` keyed messages through `producerBootstrap`, consume from `consumerBootstrap`. */
function produceConsume(
  topic: string,
  producerBootstrap: string,
  consumerBootstrap: string,
  count: number,
): void {
  const runId = `${process.pid}-${Date.now()}`;
  const lines = Array.from(
    { length: count },
    (_, i) => `key-${String(i).padStart(4, '0')}\tvalue-${i}-${runId}`,
  );
  const p = kcat(
    [
      '-b',
      producerBootstrap,
      '-P',
      '-t',
      topic,
      '-K',
      '\t',
      '-X',
      'acks=all',
      '-X',
      'message.timeout.ms=60000',
    ],
    lines.join('\n') + '\n',
    120_000,
  );
  assert(p.code === 0, `kcat -P failed (${p.code}): ${p.stderr}`);
  const c = kcat(
    ['-b', consumerBootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k\t%s\t%p\t%o\n'],
    undefined,
    120_000,
  );
  assert(c.code === 0, `kcat -C failed (${c.code}): ${c.stderr}`);
  const got = c.stdout.split('\n').filter((l) => l !== '');
  const byKey = new Map<string, number>();
  const perPartition = new Map<string, number>();
  for (const l of got) {
    const [k, v, part] = l.split('\t');
    byKey.set(`${k ?? ''}\t${v ?? ''}`, (byKey.get(`${k ?? ''}\t${v ?? ''}`) ?? 0) + 1);
    perPartition.set(part ?? '?', (perPartition.get(part ?? '?') ?? 0) + 1);
  }
  const missing = lines.filter((l) => !byKey.has(l)).length;
  const duplicated = [...byKey.values()].filter((n) => n > 1).length;
  const foreign = [...byKey.keys()].filter((k) => !lines.includes(k)).length;
  log(
    `produced ${count} via ${producerBootstrap}; consumed ${got.length} via ${consumerBootstrap} ` +
      `(distinct ${byKey.size}, missing ${missing}, duplicated ${duplicated}, unexpected ${foreign}; per partition ${JSON.stringify(Object.fromEntries(perPartition))})`,
  );
  eq(got.length, count, 'messages consumed');
  eq(missing, 0, 'messages lost');
  eq(duplicated, 0, 'messages duplicated');
  eq(foreign, 0, 'unexpected messages');
}

function createTopic(
  s: Settings,
  bootstrap: string,
  topic: string,
  partitions: number,
  rf: number,
  inside?: LabHost,
): void {
  const args = ['--bootstrap-server', bootstrap, '--create', '--topic', topic];
  args.push('--partitions', String(partitions), '--replication-factor', String(rf));
  kafkaTool(s, 'org.apache.kafka.tools.TopicCommand', args, inside);
}

async function waitTopicReady(
  bootstrap: string,
  topic: string,
  partitions: number,
  rf: number,
): Promise<KcatMetadata> {
  const deadline = Date.now() + 60_000;
  let last: KcatMetadata | undefined;
  while (Date.now() < deadline) {
    last = metadata(bootstrap, topic);
    const t = last.topics.find((x) => x.topic === topic);
    const ps = t?.partitions ?? [];
    if (
      ps.length === partitions &&
      ps.every((p) => p.leader >= 0 && p.replicas.length === rf && p.isrs.length === rf)
    )
      return last;
    await sleep(1000);
  }
  throw new AssertionFailed(`topic ${topic} not fully replicated in 60 s: ${JSON.stringify(last?.topics)}`);
}

/** The mutated-release proof shared by ZooKeeper (B) and KRaft (C) modes. */
/** The listener the Service's node port reaches on a broker: the one bound on the port it targets. */
function listenerBehindNodePort(rel: Release, pod: BrokerPod): string {
  const port = (rel.service.spec.ports ?? []).find((p) => p.nodePort === NODE_PORT);
  assert(
    port !== undefined,
    `client Service has no nodePort ${NODE_PORT}: ${JSON.stringify(rel.service.spec.ports)}`,
  );
  const target = resolveTargetPort(rel.sts, port.targetPort, port.port);
  const bound = (pod.config.properties.get('listeners') ?? '')
    .split(',')
    .find((l) => Number(l.slice(l.lastIndexOf(':') + 1)) === target);
  assert(
    bound !== undefined,
    `${pod.name}: no listener binds ${target}, the port node port ${NODE_PORT} reaches`,
  );
  return bound.slice(0, bound.indexOf('://'));
}

/**
 * Every broker advertises its own node's address (`nodeAddress`: its IP, or the address clients
 * reach it by) on the listener the node port reaches; a client that knows only those addresses
 * bootstraps, lists every broker and produces and consumes through two different nodes.
 */
async function provePerNodeAccess(
  lab: Lab,
  s: Settings,
  rel: Release,
  nodes: LabHost[],
  nodeAddress: (node: LabHost) => string = (node) => node.ip,
): Promise<void> {
  for (const p of rel.pods) {
    const listener = listenerBehindNodePort(rel, p);
    eq(
      listenerOf(p.config.properties.get('advertised.listeners'), listener),
      `${nodeAddress(p.host)}:${NODE_PORT}`,
      `${p.name} ${listener} (behind node port ${NODE_PORT}) advertised`,
    );
  }
  eq(rel.service.spec.type, 'NodePort', 'client Service type');
  eq(rel.service.spec.externalTrafficPolicy, 'Local', 'client Service externalTrafficPolicy');
  const ports = applyNodePorts(lab, rel);
  assert(
    ports.some((p) => p.nodePort === NODE_PORT),
    `client Service has no nodePort ${NODE_PORT}: ${JSON.stringify(rel.service.spec.ports)}`,
  );
  log(
    `kube-proxy rules: ${ports.map((p) => `<node IP>:${p.nodePort} -> <local pod>:${p.targetPort}`).join(', ')}`,
  );
  const first = nodes[0] as LabHost;
  log(`iptables -t nat -S in ${first.name}:\n${lab.natRules(first).trim()}`);

  await startAllAndWait(lab, s, rel, 180_000);

  const node1 = `${nodeAddress(nodes[0] as LabHost)}:${NODE_PORT}`;
  const node2 = `${nodeAddress(nodes[1] as LabHost)}:${NODE_PORT}`;
  // Broker registration reaches the metadata a moment after "started".
  let md = metadata(node1);
  for (let i = 0; i < 30 && md.brokers.length < rel.pods.length; i++) {
    await sleep(1000);
    md = metadata(node1);
  }
  const human = kcat(['-b', node1, '-L', '-m', '15']);
  log(`kcat -b ${node1} -L:\n${human.stdout.trim()}`);
  eq(md.brokers.length, rel.pods.length, 'brokers in metadata');
  for (const p of rel.pods) {
    const id = Number(p.config.properties.get('broker.id') ?? p.config.properties.get('node.id'));
    const b = md.brokers.find((x) => x.id === id);
    eq(b?.name, `${nodeAddress(p.host)}:${NODE_PORT}`, `broker ${id} (${p.name}) endpoint`);
  }

  const topic = `kni-proof-${process.pid}`;
  createTopic(s, node1, topic, 3, 3);
  const tmd = await waitTopicReady(node1, topic, 3, 3);
  log(
    `topic ${topic}: ${JSON.stringify(tmd.topics[0]?.partitions?.map((p) => ({ p: p.partition, leader: p.leader, isr: p.isrs.map((x) => x.id) })))}`,
  );
  produceConsume(topic, node1, node2, MESSAGES);
}

// ---------------------------------------------------------------- install
function install(): string {
  const t = Date.now();
  // --check: `npm run setup` installs; a test never downloads inside its run.
  const out = execFileSync('bash', [join(REPO_ROOT, 'test', 'kafka', 'install.sh'), '--check'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = out
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('KAFKA_LIBS='));
  if (!line) throw new Error('install.sh printed no KAFKA_LIBS=');
  log(`install: ${((Date.now() - t) / 1000).toFixed(1)}s`);
  return line.slice('KAFKA_LIBS='.length);
}

let LIBS = '';
const WORK_BASE = process.env.KNI_KAFKA_WORK_DIR ?? join('/tmp', `kni-kafka-${process.pid}`);

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  await test('preconditions: root, ../shared renders, install (Kafka jars, kcat, iptables)', () => {
    assert(process.getuid?.() === 0, 'must run as root (network namespaces, iptables)');
    assert(existsSync(RENDER_ZK), `missing ${RENDER_ZK}: ../shared is required (set KNI_SHARED_DIR)`);
    assert(existsSync(RENDER_KRAFT), `missing ${RENDER_KRAFT}`);
    LIBS = install();
  });
  if (LIBS === '') return;

  await test('podEnv: Kubernetes $(VAR) expansion rules', () => {
    const vars = new Map([['A', 'x']]);
    const look = (n: string): string | undefined => vars.get(n);
    eq(expand('$(A)-$(B)', look), 'x-$(B)', 'defined / undefined');
    eq(expand('$$(A)', look), '$(A)', '$$ escape');
    eq(expand('$$$(A)', look), '$x', '$$ then reference');
    eq(expand('$((31090 + ${A}))', look), '$((31090 + ${A}))', 'shell arithmetic untouched');
    eq(expand('a$', look), 'a$', 'trailing $');
    eq(expand('$(A', look), '$(A', 'unterminated');
    eq(expand('$A', look), '$A', 'bare $A');
    const rt = containerRuntime(
      {
        name: 'c',
        command: ['echo', '$(LATER)'],
        env: [
          { name: 'EARLY', value: '$(LATER)/$(NAME)' },
          { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
          { name: 'LATER', value: '$(NAME)@$(HOST)' },
        ],
      },
      { name: 'p-0', namespace: 'ns', nodeName: 'n', hostIP: '10.0.0.1', podIP: '10.1.0.1' },
    );
    eq(rt.env.get('EARLY'), '$(LATER)/$(NAME)', 'only earlier entries are visible');
    eq(rt.env.get('LATER'), 'p-0@10.0.0.1', 'downward API + earlier entries');
    eq(rt.command[1], 'p-0@10.0.0.1', 'command sees the whole env');
  });

  await test('bitnamiBroker: 12.9.5 render -> server.properties per pod ordinal', () => {
    const objects = loadManifests(RENDER_ZK);
    const sts = kafkaStatefulSet(objects);
    const script = setupScript(objects, sts);
    eq(parseSetupScript(script).podNamePrefix, 'my-kafka-', 'setup.sh ID prefix');
    for (const i of [0, 2]) {
      const rt = containerRuntime(kafkaContainer(sts), {
        name: `my-kafka-${i}`,
        namespace: 'kafka',
        nodeName: 'n',
        hostIP: '10.9.9.9',
        podIP: '10.9.9.9',
      });
      const c = bitnamiServerProperties(rt.env, script);
      eq(c.properties.get('broker.id'), String(i), 'broker.id');
      eq(
        c.properties.get('advertised.listeners'),
        `INTERNAL://my-kafka-${i}.my-kafka-headless.kafka.svc.cluster.local:9093,CLIENT://my-kafka-${i}.my-kafka-headless.kafka.svc.cluster.local:9092`,
        'advertised.listeners',
      );
      eq(
        c.properties.get('inter.broker.listener.name'),
        'INTERNAL',
        'inter.broker.listener.name (alias of KAFKA_INTER_BROKER_LISTENER_NAME)',
      );
      eq(c.properties.get('zookeeper.connect'), 'my-kafka-zookeeper', 'zookeeper.connect');
      eq(c.properties.has('security.inter.broker.protocol'), false, 'security.inter.broker.protocol removed');
    }
  });

  await test(`A: unmutated 12.9.5 + fixed OUTSIDE://1.1.1.1:9094 -> 2nd and 3rd broker exit "already registered by broker"`, async () => {
    const s = settings('A');
    const objects = loadManifests(RENDER_ZK);
    addFixedListener(objects, 'OUTSIDE', 9094, '1.1.1.1:9094');
    await withLab(async (lab) => {
      const zkHost = lab.addHost('zookeeper', 2);
      const nodes = addNodes(lab, 3);
      await startZooKeeper(lab, s, objects, zkHost);
      const rel = prepareBrokers(lab, s, objects, nodes);
      showAdvertised(rel);
      const [first, ...rest] = rel.pods;
      assert(first !== undefined && rest.length === 2, 'expected 3 pods');
      startBroker(lab, s, first);
      const st = await waitBroker(first, 180_000);
      assert(st === 'ready', `${first.name} did not start (${st}):\n${tail(first.proc?.logFile ?? '')}`);
      log(`${first.name} registered; starting ${rest.map((p) => p.name).join(', ')}`);
      for (const p of rest) startBroker(lab, s, p);
      const deadline = Date.now() + 180_000;
      while (Date.now() < deadline && rest.some((p) => p.proc?.exitCode === undefined)) await sleep(250);
      const running = rest.filter((p) => p.proc?.exitCode === undefined);
      assert(
        running.length === 0,
        `brokers ${running.map((p) => p.name).join(', ')} still running after 180 s`,
      );
      for (const p of rest) {
        const text = readLog(p.proc?.logFile ?? '');
        const line = text.split('\n').find((l) => l.includes('already registered by broker')) ?? '';
        log(`${p.name} exit code ${String(p.proc?.exitCode)}: ${line.trim()}`);
        assert(p.proc?.exitCode !== 0, `${p.name} exited 0`);
        assert(
          /already registered by broker 0/.test(text),
          `${p.name}: no "already registered by broker 0" in log:\n${tail(p.proc?.logFile ?? '')}`,
        );
        assert(text.includes('1.1.1.1:9094'), `${p.name}: conflicting endpoint 1.1.1.1:9094 not named`);
      }
      assert(first.proc?.exitCode === undefined, `${first.name} should still be running`);
    });
  });

  await test('placement: mutated StatefulSet puts one broker per runapp=kafka node (scheduler emulation)', () => {
    const mutated = mutator(loadManifests(RENDER_ZK), RENDER_ZK);
    const sts = kafkaStatefulSet(mutated.objects);
    const nodes = [1, 2, 3, 4].map((i) => ({
      name: `node${i}`,
      labels: { 'kubernetes.io/hostname': `node${i}`, ...(i <= 3 ? { runapp: 'kafka' } : {}) },
    }));
    const labels = sts.spec.template.metadata?.labels ?? {};
    const four = schedule(sts.metadata.name, 4, labels, sts.spec.template.spec, nodes);
    log(
      `4 replicas on 3 labelled + 1 unlabelled node: ${four.map((p) => `${p.pod}->${p.node ?? 'Pending'}`).join(', ')}`,
    );
    eq(new Set(four.slice(0, 3).map((p) => p.node)).size, 3, 'first three pods on three distinct nodes');
    assert(!four.some((p) => p.node === 'node4'), 'no pod on the node without runapp=kafka');
    eq(four[3]?.node, undefined, '4th pod Pending (required anti-affinity)');
    const plain = kafkaStatefulSet(loadManifests(RENDER_ZK));
    const two = schedule(
      plain.metadata.name,
      3,
      plain.spec.template.metadata?.labels ?? {},
      plain.spec.template.spec,
      nodes.slice(0, 2),
    );
    log(
      `unmutated (preferred anti-affinity only), 3 replicas on 2 nodes: ${two.map((p) => `${p.pod}->${p.node ?? 'Pending'}`).join(', ')}`,
    );
    eq(new Set(two.map((p) => p.node)).size, 2, 'unmutated chart co-locates brokers when nodes are short');
  });

  await test('mutate output: every env value is still a string when read as YAML 1.1 (kubectl, helm --post-renderer)', () => {
    for (const file of [RENDER_ZK, RENDER_KRAFT]) {
      const m = mutateWithCli(file, NODE_SELECTOR);
      const asKubernetesReadsIt = parseManifests(m.text ?? '', '1.1');
      const bad: string[] = [];
      for (const sts of statefulSets(asKubernetesReadsIt)) {
        for (const c of sts.spec.template.spec.containers) {
          for (const e of c.env ?? []) {
            const v: unknown = e.value;
            if (v !== undefined && v !== null && typeof v !== 'string')
              bad.push(`${sts.metadata.name}/${c.name} ${e.name}=${JSON.stringify(v)}`);
          }
        }
      }
      assert(
        bad.length === 0,
        `${file}: env values that YAML 1.1 reads as non-strings (quote them): ${bad.join(', ')}`,
      );
    }
  });

  await test(`B: mutated 12.9.5 (CLI) -> 3 brokers at <node IP>:${NODE_PORT}; ${MESSAGES} keyed messages RF3 in via node1, out via node2`, async () => {
    const s = settings('B');
    const mutated = mutator(loadManifests(RENDER_ZK), RENDER_ZK);
    log(`mutated via ${mutated.via}`);
    writeFileSync(join(s.workDir, 'mutated.yaml'), JSON.stringify(mutated.objects, null, 1));
    checkMutation(mutated);
    await withLab(async (lab) => {
      const zkHost = lab.addHost('zookeeper', 2);
      const nodes = addNodes(lab, 3);
      await startZooKeeper(lab, s, mutated.objects, zkHost);
      const rel = prepareBrokers(lab, s, mutated.objects, nodes);
      showAdvertised(rel);
      await provePerNodeAccess(lab, s, rel, nodes);
    });
  });

  /**
   * The story's values (12.9.5, 3 brokers, OUTSIDE://1.1.1.1:9094) installed through the webhook
   * into a namespace with `annotations`; ZooKeeper and the brokers then run from what the API
   * server stored, on the nodes the real scheduler chose, and each broker must be reached at
   * `nodeAddress` of its node.
   */
  const storyThroughWebhook = async (
    name: string,
    annotations: Record<string, string>,
    prepareNodes: (lab: Lab, nodes: LabHost[]) => void,
    nodeAddress?: (node: LabHost) => string,
  ): Promise<void> => {
    const s = settings(name);
    await withLab(async (lab) => {
      const zkHost = lab.addHost('zookeeper', 2);
      const nodes = addNodes(lab, 3);
      prepareNodes(lab, nodes);
      const stored = await installThroughWebhook(nodes, {
        namespace: NAMESPACE,
        release: 'my-kafka',
        chartDir: join(SHARED, 'charts', 'bitnami-kafka-12.9.5'),
        helmArgs: ['--set', 'replicaCount=3', ...SEED_LISTENERS],
        brokers: [{ name: 'my-kafka', replicas: 3 }],
        nodeSelector: NODE_SELECTOR,
        namespaceAnnotations: annotations,
      });
      for (const line of stored.admissions) log(`  admission: ${line}`);
      for (const p of stored.placements) {
        const node = nodes.find((n) => n.name === p.node);
        eq(p.hostIP, node?.ip, `${p.pod}: hostIP is its node's address`);
      }
      await startZooKeeper(lab, s, stored.objects, zkHost);
      const rel = prepareBrokers(lab, s, stored.objects, nodes, { placements: stored.placements });
      showAdvertised(rel);
      await provePerNodeAccess(lab, s, rel, nodes, nodeAddress);
    });
  };

  await test(`D: the story's values through the webhook: \`helm install\` 12.9.5 on a real control plane; the objects the API server stored, on the nodes the real scheduler chose -> every broker at <node IP>:${NODE_PORT}; produce/consume`, async () => {
    await storyThroughWebhook('D', {}, () => undefined);
  });

  await test(`F: address-type ExternalIP through the webhook: each node has an internal and an external address; \`helm install\` of the story's values; every broker advertises <its node's external address>:${NODE_PORT}, and kcat bootstraps, lists and produces/consumes through those addresses`, async () => {
    await storyThroughWebhook(
      'F',
      { [ADDRESS_TYPE_ANNOTATION]: 'ExternalIP' },
      (lab, nodes) => {
        nodes.forEach((node, i) => {
          lab.addExternalAddress(node, 111 + i);
        });
      },
      (node) => node.externalIP ?? 'no external address',
    );
  });

  await test(`E: an apache/kafka broker configured by env (image-env wiring; only an inter-broker listener) mutated (CLI) -> an EXTERNAL listener on ${NODE_PORT}, 3 KRaft brokers at <node IP>:${NODE_PORT}; produce/consume`, async () => {
    const s = settings('E');
    const file = join(s.workDir, 'apache-kafka.yaml');
    writeFileSync(file, toYaml(apacheRelease()));
    const mutated = mutator(loadManifests(file), file);
    log(`mutated via ${mutated.via}`);
    await withLab(async (lab) => {
      const nodes = addNodes(lab, 3);
      const rel = prepareBrokers(lab, s, mutated.objects, nodes, { image: 'apache' });
      showAdvertised(rel);
      for (const p of rel.pods) {
        eq(
          listenerOf(p.config.properties.get('listeners'), 'PLAINTEXT'),
          ':9092',
          `${p.name}: PLAINTEXT still binds 9092`,
        );
      }
      await provePerNodeAccess(lab, s, rel, nodes);
    });
  });

  if (process.env.KNI_KAFKA_KRAFT !== '0') {
    await test(`C1: KRaft 22.1.6 (replicaCount=3) mutated (CLI) -> 3 brokers at <node IP>:${NODE_PORT}; produce/consume`, async () => {
      const s = settings('C1');
      const file = join(s.workDir, 'kraft-replicas3.yaml');
      writeFileSync(file, kraftReplicas3Yaml());
      const mutated = mutator(loadManifests(file), file);
      log(`mutated via ${mutated.via}`);
      checkMutation(mutated);
      await withLab(async (lab) => {
        const nodes = addNodes(lab, 3);
        const rel = prepareBrokers(lab, s, mutated.objects, nodes);
        showAdvertised(rel);
        await provePerNodeAccess(lab, s, rel, nodes);
      });
    });

    await test('C2: KRaft 22.1.6 unmutated, one fixed advertised endpoint for every broker -> finding', async () => {
      await kraftDuplicateFinding();
    });
  }
}

// ---------------------------------------------------------------- apache/kafka by env
/**
 * A release in the manner of charts on the official apache/kafka image (written from how the image
 * reads its env, not copied from a chart): three combined broker+controller pods, the node id from
 * the pod-index label, one PLAINTEXT listener for clients and brokers, a client Service.
 */
function apacheRelease(): K8sObject[] {
  const labels = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };
  const voters = [0, 1, 2].map((i) => `${i}@kafka-${i}.kafka-headless.${NAMESPACE}.svc.cluster.local:9093`);
  const value = (name: string, v: string): { name: string; value: string } => ({ name, value: v });
  const sts = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'kafka', namespace: NAMESPACE, labels },
    spec: {
      replicas: 3,
      serviceName: 'kafka-headless',
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: 'kafka',
              image: 'apache/kafka:4.3.1',
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                {
                  name: 'KAFKA_NODE_ID',
                  valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } },
                },
                value('KAFKA_PROCESS_ROLES', 'broker,controller'),
                value('KAFKA_CONTROLLER_LISTENER_NAMES', 'CONTROLLER'),
                value('KAFKA_CONTROLLER_QUORUM_VOTERS', voters.join(',')),
                value('KAFKA_LISTENERS', 'PLAINTEXT://:9092,CONTROLLER://:9093'),
                value(
                  'KAFKA_ADVERTISED_LISTENERS',
                  `PLAINTEXT://$(POD_NAME).kafka-headless.${NAMESPACE}.svc.cluster.local:9092`,
                ),
                value('KAFKA_LISTENER_SECURITY_PROTOCOL_MAP', 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT'),
                value('KAFKA_INTER_BROKER_LISTENER_NAME', 'PLAINTEXT'),
                value('KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR', '3'),
                value('KAFKA_LOG_DIRS', '/var/lib/kafka/data'),
                value('CLUSTER_ID', 'kni-apache-lab-cluster1'),
              ],
              ports: [
                { name: 'kafka', containerPort: 9092 },
                { name: 'controller', containerPort: 9093 },
              ],
            },
          ],
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kafka', namespace: NAMESPACE, labels },
    spec: { selector: labels, ports: [{ name: 'kafka', port: 9092, targetPort: 'kafka' }] },
  };
  return [sts, service];
}

// ---------------------------------------------------------------- KRaft
/** `helm template --set replicaCount=3` of 22.1.6, emulated on the default render: replicas, and the
 * voters loop bound in setup.sh (`$pod_id -ge {{ .Values.replicaCount }}`). */
function kraftReplicas3Yaml(): string {
  const text = readFileSync(RENDER_KRAFT, 'utf8');
  const out = text
    .replace(/^ {2}replicas: 1$/m, '  replicas: 3')
    .replace('if [[ $pod_id -ge 1 ]]; then', 'if [[ $pod_id -ge 3 ]]; then');
  if (out === text || !out.includes('$pod_id -ge 3'))
    throw new Error('22.1.6 render changed: cannot set replicaCount=3');
  return out;
}

async function kraftDuplicateFinding(): Promise<void> {
  const s = settings('C2');
  const file = join(s.workDir, 'kraft-replicas3.yaml');
  writeFileSync(file, kraftReplicas3Yaml());
  const objects = loadManifests(file);
  await withLab(async (lab) => {
    const nodes = addNodes(lab, 3);
    // The "one fixed external address" is a lab address (a load balancer in front of node1's OUTSIDE
    // listener), so that what clients do with the duplicate endpoint can be observed without ever
    // dialling an address outside the lab.
    const lb = lab.addHost('lb', 100);
    addFixedListener(objects, 'OUTSIDE', 9095, `${lb.ip}:9095`);
    const rel = prepareBrokers(lab, s, objects, nodes);
    showAdvertised(rel);
    const node1 = nodes[0] as LabHost;
    lab.exec(lb, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    lab.exec(lb, [
      'iptables',
      '-t',
      'nat',
      '-A',
      'PREROUTING',
      '-d',
      `${lb.ip}/32`,
      '-p',
      'tcp',
      '--dport',
      '9095',
      '-j',
      'DNAT',
      '--to-destination',
      `${node1.ip}:9095`,
    ]);
    lab.exec(lb, [
      'iptables',
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-d',
      `${node1.ip}/32`,
      '-p',
      'tcp',
      '--dport',
      '9095',
      '-j',
      'MASQUERADE',
    ]);
    for (const pod of rel.pods) formatKraftStorage(s, pod);
    for (const pod of rel.pods) startBroker(lab, s, pod);
    const states = await Promise.all(rel.pods.map((p) => waitBroker(p, 180_000)));
    log(
      `KRaft brokers with duplicate OUTSIDE endpoint: ${rel.pods.map((p, i) => `${p.name}=${states[i] ?? '?'}`).join(', ')}`,
    );
    const crashed = rel.pods.filter((_p, i) => states[i] !== 'ready');
    if (crashed.length > 0) {
      for (const p of crashed) log(`${p.name} log tail:\n${tail(p.proc?.logFile ?? '')}`);
      log('FINDING: KRaft refuses duplicate advertised endpoints (brokers crash)');
      return;
    }
    await sleep(3000);
    const still = rel.pods.filter((p) => p.proc?.exitCode !== undefined);
    assert(still.length === 0, `brokers exited later: ${still.map((p) => p.name).join(', ')}`);
    const viaLb = `${lb.ip}:9095`;
    const md = metadata(viaLb);
    log(`kcat -b ${viaLb} -L -J brokers: ${JSON.stringify(md.brokers)}`);
    const endpoints = new Set(md.brokers.map((b) => b.name));
    eq(md.brokers.length, 3, 'KRaft registered all three brokers');
    eq(endpoints.size, 1, 'all three brokers share one advertised endpoint');
    const topic = `kni-dup-${process.pid}`;
    // In-cluster tools (as `kubectl exec my-kafka-0 -- …`): inside node1, cluster names resolve.
    const inCluster = `${node1.ip}:9092`;
    createTopic(s, inCluster, topic, 3, 1, node1);
    await sleep(2000);
    const tmd = metadata(inCluster, topic, node1);
    const leaders = tmd.topics[0]?.partitions?.map((p) => p.leader) ?? [];
    const lines = Array.from({ length: 30 }, (_, i) => `k${i}\tv${i}`).join('\n') + '\n';
    const produceArgs = ['-b', viaLb, '-P', '-t', topic, '-K', '\t', '-X', 'message.timeout.ms=8000'];
    const p = kcat(produceArgs, lines, 60_000);
    const notLeader = (p.stderr.match(/NOT_LEADER|Not leader|not the leader|NotLeader/gi) ?? []).length;
    const failed = p.stderr.split('\n').filter((l) => l.includes('Delivery failed')).length;
    log(
      `produce of 30 messages through the shared endpoint (partition leaders ${JSON.stringify(leaders)}): ` +
        `kcat exit ${p.code}, ${failed} messages failed delivery, ${notLeader} not-leader mentions`,
    );
    log(`kcat stderr (first lines):\n${p.stderr.split('\n').slice(0, 8).join('\n')}`);
    const c = kcat(
      ['-b', inCluster, '-C', '-t', topic, '-o', 'beginning', '-e', '-q'],
      undefined,
      60_000,
      node1,
    );
    const delivered = c.stdout.split('\n').filter((l) => l !== '').length;
    log(
      `FINDING: KRaft starts all 3 brokers with one shared advertised endpoint (no "already registered" check); clients are silently routed to the one broker behind it; ${delivered}/30 messages arrived`,
    );
    assert(
      delivered < 30 || new Set(leaders).size === 1,
      'expected misrouting to lose the messages of partitions led by other brokers',
    );
  });
}

await main().catch((e: unknown) => {
  results.push({ name: 'runner', ok: false, seconds: 0, error: String(e) });
  console.error(e);
});
cleanupAll();
log('summary:');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.seconds.toFixed(1)}s)`);
const failedCount = results.filter((r) => !r.ok).length;
if (failedCount === 0 && process.env.KNI_KAFKA_KEEP !== '1')
  rmSync(WORK_BASE, { recursive: true, force: true });
else if (existsSync(WORK_BASE)) log(`configs and broker logs kept in ${WORK_BASE}`);
console.log(summary());
// Exit explicitly: nothing of the test may keep the process alive (stdout is a file or pipe: sync).
process.exit(failedCount === 0 && results.length > 0 ? 0 : 1);
