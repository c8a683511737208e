/**
 * SPEC §3–4 judged on a live release: the StatefulSets and client Service as the API server stored
 * them, the broker pods as the real StatefulSet controller created them and the real scheduler
 * placed them, and — from each pod's own spec and `status.hostIP` — the listener the broker would
 * advertise, worked out by the repository's independent container-start simulation
 * (test/support/containerStart.ts, which runs the pod's scripts with the kubelet's `$(VAR)`
 * expansion from test/support/kubeletExpansion.ts).
 */
import assert from 'node:assert/strict';
import type { PodSpec, StatefulSet } from '../../src/core/kubeTypes.ts';
import { startBroker } from '../support/containerStart.ts';
import type { Cluster, FakeNode } from './cluster.ts';
import { getObject, listObjects, type KubeObj } from './storedObjects.ts';
import { addressPort, listenerEntries } from '../support/exposureEffect.ts';

export const STATUS_ANNOTATION = 'kafka-nodeport-injector/status';
export const BROKER_GROUP_LABEL = 'kafka-nodeport-injector/broker-group';

export interface BrokerPod {
  sts: string;
  ordinal: number;
  name: string;
  uid: string;
  nodeName: string;
  hostIP: string;
  podIP: string;
  labels: Record<string, string>;
  spec: PodSpec;
}

interface PodObj extends KubeObj {
  spec?: PodSpec & { nodeName?: string };
  status?: { phase?: string; hostIP?: string; podIP?: string };
}

interface StsObj extends KubeObj {
  spec?: StatefulSet['spec'] & { updateStrategy?: { type?: string } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

export interface ServiceObj extends KubeObj {
  spec?: {
    type?: string;
    externalTrafficPolicy?: string;
    ports?: { name?: string; port: number; targetPort?: number | string; nodePort?: number }[];
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function getStatefulSet(cluster: Cluster, ns: string, name: string): Promise<StsObj> {
  const sts = await getObject<StsObj>(cluster, 'apps/v1', 'StatefulSet', ns, name);
  assert.ok(sts, `StatefulSet ${ns}/${name} is not stored`);
  return sts;
}

/**
 * Wait until every StatefulSet has rolled out (all replicas updated and ready at its latest
 * generation) and return its pods, each Running with a hostIP.
 */
export async function waitForBrokerPods(
  cluster: Cluster,
  ns: string,
  brokers: { name: string; replicas: number }[],
  timeoutMs = 120_000,
): Promise<BrokerPod[]> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const pods: BrokerPod[] = [];
    let done = true;
    for (const b of brokers) {
      const sts = await getStatefulSet(cluster, ns, b.name);
      const st = sts.status ?? {};
      // Not currentRevision === updateRevision: with updateStrategy OnDelete the controller never
      // advances currentRevision; every pod being at updateRevision (below) is what counts.
      const rolledOut =
        (st.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 1) &&
        st.updatedReplicas === b.replicas &&
        st.readyReplicas === b.replicas &&
        (st.replicas ?? 0) === b.replicas;
      if (!rolledOut) {
        done = false;
        last = `${b.name}: ${JSON.stringify(st)}`;
        break;
      }
      for (let ordinal = 0; ordinal < b.replicas; ordinal++) {
        const name = `${b.name}-${ordinal}`;
        const pod = await getObject<PodObj>(cluster, 'v1', 'Pod', ns, name);
        const hash = pod?.metadata?.labels?.['controller-revision-hash'];
        if (pod?.status?.phase !== 'Running' || !pod.status.hostIP || hash !== st.updateRevision) {
          done = false;
          last = `${name}: ${JSON.stringify(pod?.status ?? 'absent')} revision ${hash ?? '?'}`;
          break;
        }
        pods.push({
          sts: b.name,
          ordinal,
          name,
          uid: pod.metadata?.uid ?? '',
          nodeName: pod.spec?.nodeName ?? '',
          hostIP: pod.status.hostIP,
          podIP: pod.status.podIP ?? '',
          labels: pod.metadata?.labels ?? {},
          spec: pod.spec as PodSpec,
        });
      }
      if (!done) break;
    }
    if (done) return pods;
    if (Date.now() > deadline) {
      const events = await cluster.kubectl(['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp']);
      throw new Error(
        `brokers not Running after ${timeoutMs} ms (last: ${last})\n${events.stdout.split('\n').slice(-15).join('\n')}`,
      );
    }
    await sleep(250);
  }
}

/** One broker per labelled node, never elsewhere; hostIP is the node's InternalIP. */
export function assertPlacement(pods: BrokerPod[], labelledNodes: FakeNode[]): void {
  const byName = new Map(labelledNodes.map((n) => [n.name, n]));
  for (const p of pods) {
    const node = byName.get(p.nodeName);
    assert.ok(node, `broker ${p.name} runs on ${p.nodeName}, which is not labelled runapp=kafka`);
    assert.equal(p.hostIP, node.internalIP, `broker ${p.name} status.hostIP is its node's InternalIP`);
  }
  const nodes = pods.map((p) => p.nodeName);
  assert.equal(new Set(nodes).size, pods.length, `brokers on distinct nodes: ${nodes.join(', ')}`);
}

export function statusAnnotation(o: KubeObj): { nodePort?: number; listener?: string } | undefined {
  const raw = o.metadata?.annotations?.[STATUS_ANNOTATION];
  return raw === undefined ? undefined : (JSON.parse(raw) as { nodePort?: number; listener?: string });
}

/** `$(MY_HOST_IP)` only expands from an earlier env entry: every reference must come after the definition. */
function assertDownwardEnv(podName: string, spec: PodSpec): void {
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const env = c.env ?? [];
    for (const name of ['MY_HOST_IP', 'MY_POD_IP', 'MY_POD_NAME']) {
      assert.ok(
        env.filter((e) => e.name === name).length <= 1,
        `${podName}/${c.name}: ${name} defined more than once`,
      );
    }
    const def = env.findIndex((e) => e.name === 'MY_HOST_IP');
    const firstUse = env.findIndex((e) => (e.value ?? '').includes('$(MY_HOST_IP)'));
    const inCommand = [...(c.command ?? []), ...(c.args ?? [])].some((s) => s.includes('$(MY_HOST_IP)'));
    if (firstUse >= 0 || inCommand) {
      assert.ok(def >= 0, `${podName}/${c.name} uses $(MY_HOST_IP) but does not define it`);
      assert.equal(
        env[def]?.valueFrom?.fieldRef?.fieldPath,
        'status.hostIP',
        `${podName}/${c.name}: MY_HOST_IP comes from status.hostIP`,
      );
      if (firstUse >= 0) assert.ok(def < firstUse, `${podName}/${c.name}: MY_HOST_IP defined after its use`);
    }
  }
}

export interface ExposureExpectation {
  nodePort: number;
  nodeSelector: Record<string, string>;
  release: string;
  /** The host a broker pod must advertise (default: its hostIP, the node's InternalIP). */
  advertisedHost?: (pod: BrokerPod) => string;
}

export interface Exposure {
  /** `<name>: <listener>://<hostIP>:<nodePort>` per broker pod. */
  endpoints: string[];
  listener: string;
}

/**
 * The release is exposed as SPEC §3 says: the stored broker StatefulSets and client Service carry
 * the status annotation, and every broker pod — its real spec, its real hostIP — would advertise
 * `<hostIP>:<nodePort>` on exactly one listener, unique across brokers, every other listener as
 * the chart rendered it, with the client Service routing the nodePort to that listener's port.
 */
export async function assertExposed(
  cluster: Cluster,
  ns: string,
  pods: BrokerPod[],
  rendered: KubeObj[],
  clientService: string,
  expect: ExposureExpectation,
): Promise<Exposure> {
  const brokerNames = [...new Set(pods.map((p) => p.sts))].sort();
  const allSts = await listObjects(cluster, 'apps/v1', 'StatefulSet', ns);
  assert.deepEqual(
    allSts
      .filter((s) => statusAnnotation(s) !== undefined)
      .map((s) => s.metadata?.name)
      .sort(),
    brokerNames,
    'exactly the broker StatefulSets carry the status annotation (not ZooKeeper, not controller-only)',
  );
  const stored = await Promise.all(brokerNames.map((name) => getStatefulSet(cluster, ns, name)));
  for (const sts of stored) {
    const status = statusAnnotation(sts);
    assert.ok(status, `StatefulSet ${sts.metadata?.name ?? ''} carries ${STATUS_ANNOTATION}`);
    assert.equal(status.nodePort, expect.nodePort, 'status annotation records the node-port');
    assert.equal(
      sts.spec?.template.metadata?.annotations?.[STATUS_ANNOTATION],
      undefined,
      'the status annotation is on the StatefulSet, not its pod template',
    );
  }
  // The volumes the pod mounts: its scripts (ConfigMaps) and the files a script reads (Secrets).
  const configMaps = [
    ...(await listObjects(cluster, 'v1', 'ConfigMap', ns)),
    ...(await listObjects(cluster, 'v1', 'Secret', ns)),
  ];
  const services = (await listObjects(cluster, 'v1', 'Service', ns)) as ServiceObj[];
  const annotated = services.filter((s) => statusAnnotation(s) !== undefined);
  assert.deepEqual(
    annotated.map((s) => s.metadata?.name),
    [clientService],
    'exactly the client Service carries the status annotation',
  );
  const svc = annotated[0] as ServiceObj;
  assert.equal(svc.spec?.type, 'NodePort', `Service ${clientService} type`);
  assert.equal(svc.spec.externalTrafficPolicy, 'Local', `Service ${clientService} externalTrafficPolicy`);
  const opening = services.filter((s) => s.spec?.ports?.some((p) => p.nodePort === expect.nodePort));
  assert.deepEqual(
    opening.map((s) => s.metadata?.name),
    [clientService],
    `only the client Service opens nodePort ${expect.nodePort}`,
  );
  const servicePort = svc.spec.ports?.find((p) => p.nodePort === expect.nodePort);
  assert.ok(servicePort);

  const endpoints = new Set<string>();
  const lines: string[] = [];
  let listener = '';
  for (const pod of pods) {
    for (const [k, v] of Object.entries(expect.nodeSelector)) {
      assert.equal(pod.spec.nodeSelector?.[k], v, `${pod.name}: nodeSelector ${k}=${v} merged`);
    }
    assert.equal(pod.labels[BROKER_GROUP_LABEL], expect.release, `${pod.name}: ${BROKER_GROUP_LABEL} label`);
    const terms = pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    assert.ok(
      terms.some(
        (t) =>
          t.topologyKey === 'kubernetes.io/hostname' &&
          t.labelSelector?.matchLabels?.[BROKER_GROUP_LABEL] === expect.release &&
          Object.entries(t.labelSelector.matchLabels).every(([k, v]) => pod.labels[k] === v),
      ),
      `${pod.name}: required anti-affinity on kubernetes.io/hostname across the release's brokers`,
    );
    assertDownwardEnv(pod.name, pod.spec);

    const facts = { namespace: ns, hostIP: pod.hostIP, podIP: pod.podIP, nodeName: pod.nodeName };
    const asSts = (spec: PodSpec): StatefulSet => ({
      kind: 'StatefulSet',
      metadata: { name: pod.sts, namespace: ns },
      spec: { template: { metadata: { labels: pod.labels }, spec } },
    });
    const started = startBroker([...configMaps], asSts(pod.spec), pod.ordinal, facts);
    const renderedSts = rendered.find((o) => o.kind === 'StatefulSet' && o.metadata?.name === pod.sts) as
      StatefulSet | undefined;
    assert.ok(renderedSts, `the chart rendered StatefulSet ${pod.sts}`);
    const before = startBroker(rendered, renderedSts, pod.ordinal, facts);

    const advertised = listenerEntries(started.advertised);
    const want = `${expect.advertisedHost?.(pod) ?? pod.hostIP}:${expect.nodePort}`;
    const outside = advertised.filter((e) => e.address === want);
    assert.equal(
      outside.length,
      1,
      `${pod.name} advertises ${want} on exactly one listener: ${started.advertised}`,
    );
    const name = outside[0]?.name ?? '';
    listener ||= name;
    assert.deepEqual(
      advertised.filter((e) => e.name !== name),
      listenerEntries(before.advertised).filter((e) => e.name !== name),
      `${pod.name}: every other listener as the chart rendered it`,
    );
    endpoints.add(want);
    lines.push(`${pod.name}@${pod.nodeName}: ${name}://${want}`);

    const bound = listenerEntries(started.listeners).find((e) => e.name === name);
    assert.ok(bound, `${pod.name}: listener ${name} is bound: ${started.listeners}`);
    const target: number | string = servicePort.targetPort ?? servicePort.port;
    const targetNumber: number | undefined =
      typeof target === 'number'
        ? target
        : pod.spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === target)?.containerPort;
    assert.equal(
      targetNumber,
      addressPort(bound.address),
      `Service ${clientService} routes nodePort ${expect.nodePort} to ${name}'s port (targetPort ${String(target)})`,
    );
  }
  assert.equal(endpoints.size, pods.length, 'advertised endpoints are unique across brokers');
  return { endpoints: lines, listener };
}

/**
 * `updateStrategy: OnDelete` (incubator/kafka) never replaces pods by itself: do what its operator
 * does after an upgrade and delete the pods still on an older revision.
 */
export async function rollOnDelete(
  cluster: Cluster,
  ns: string,
  brokers: { name: string; replicas: number }[],
): Promise<string[]> {
  const rolled: string[] = [];
  for (const b of brokers) {
    let sts = await getStatefulSet(cluster, ns, b.name);
    if (sts.spec?.updateStrategy?.type !== 'OnDelete') continue;
    for (let i = 0; (sts.status?.observedGeneration ?? 0) < (sts.metadata?.generation ?? 1); i++) {
      assert.ok(i < 100, `StatefulSet ${b.name} never observed its generation`);
      await sleep(100);
      sts = await getStatefulSet(cluster, ns, b.name);
    }
    for (let ordinal = 0; ordinal < b.replicas; ordinal++) {
      const name = `${b.name}-${ordinal}`;
      const pod = await getObject<PodObj>(cluster, 'v1', 'Pod', ns, name);
      if (pod?.metadata?.labels?.['controller-revision-hash'] === sts.status?.updateRevision) continue;
      const r = await cluster.api('DELETE', `/api/v1/namespaces/${ns}/pods/${name}`);
      assert.ok(r.status === 200 || r.status === 404, `delete pod ${name}: HTTP ${r.status}`);
      rolled.push(name);
    }
  }
  return rolled;
}

/** ControllerRevision names owned by a StatefulSet: a new one means the pod template changed. */
export async function controllerRevisions(cluster: Cluster, ns: string, stsUid: string): Promise<string[]> {
  const all = await listObjects(cluster, 'apps/v1', 'ControllerRevision', ns);
  return all
    .filter((r) => r.metadata?.ownerReferences?.some((o) => o.uid === stsUid))
    .map((r) => r.metadata?.name ?? '')
    .sort();
}
