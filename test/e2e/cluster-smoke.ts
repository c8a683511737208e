/**
 * Smoke test of the e2e control plane (no webhook involved):
 *   node test/e2e/cluster-smoke.ts
 *
 * Builds the binaries if needed (test/e2e/build-binaries.sh), starts etcd + kube-apiserver +
 * kube-controller-manager + kube-scheduler + kwok on 127.0.0.1 with 3 fake nodes labelled
 * runapp=kafka and 1 unlabelled, then checks:
 *  1. a 3-replica StatefulSet (nodeSelector runapp=kafka, required podAntiAffinity on
 *     kubernetes.io/hostname) lands on the 3 labelled nodes, one pod each, with the right hostIP;
 *  2. a NodePort Service with nodePort 31980 and externalTrafficPolicy Local is stored as such;
 *  3. `helm template` and `helm install` of bitnami-kafka-12.9.5 with replicaCount=3: the
 *     StatefulSet's pods (and their PVCs, via the test's volume provisioner) come up on
 *     distinct nodes;
 *  4. a no-op mutating webhook on 127.0.0.1 is called for pod CREATE and its latency appears in
 *     the apiserver's /metrics (apiserver_admission_webhook_admission_duration_seconds).
 *
 * Env: KNI_SHARED_CHARTS (default /work/shared/charts), KNI_E2E_KEEP=1 keeps the temp dir,
 * KNI_E2E_BIN_DIR skips the build step.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  diffWebhookLatency,
  histogramQuantile,
  startCluster,
  type Cluster,
  type FakeNode,
} from './cluster.ts';

const t0 = Date.now();
const secs = (from: number): string => `${((Date.now() - from) / 1000).toFixed(1)}s`;
const say = (msg: string): void => {
  console.log(`[smoke +${secs(t0)}] ${msg}`);
};

const CHARTS = process.env['KNI_SHARED_CHARTS'] ?? '/work/shared/charts';
const KAFKA_CHART = path.join(CHARTS, 'bitnami-kafka-12.9.5');

const NODES: FakeNode[] = [
  { name: 'kafka-node-a', internalIP: '203.0.113.11', labels: { runapp: 'kafka' } },
  { name: 'kafka-node-b', internalIP: '203.0.113.12', labels: { runapp: 'kafka' } },
  { name: 'kafka-node-c', internalIP: '203.0.113.13', labels: { runapp: 'kafka' } },
  { name: 'plain-node-d', internalIP: '203.0.113.14' },
];
const KAFKA_NODES = new Map(NODES.filter((n) => n.labels?.['runapp'] === 'kafka').map((n) => [n.name, n]));

interface PodInfo {
  name: string;
  phase: string;
  nodeName: string;
  hostIP: string;
}

function podsOf(json: unknown): PodInfo[] {
  const items = (json as { items?: unknown[] } | undefined)?.items ?? [];
  return items.map((raw) => {
    const p = raw as {
      metadata?: { name?: string };
      spec?: { nodeName?: string };
      status?: { phase?: string; hostIP?: string };
    };
    return {
      name: p.metadata?.name ?? '',
      phase: p.status?.phase ?? '',
      nodeName: p.spec?.nodeName ?? '',
      hostIP: p.status?.hostIP ?? '',
    };
  });
}

async function waitForRunningPods(
  cluster: Cluster,
  ns: string,
  selector: string,
  want: number,
  timeoutMs = 120_000,
): Promise<PodInfo[]> {
  const deadline = Date.now() + timeoutMs;
  let last: PodInfo[] = [];
  while (Date.now() < deadline) {
    const r = await cluster.api(
      'GET',
      `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`,
    );
    last = podsOf(r.json);
    const running = last.filter((p) => p.phase === 'Running' && p.hostIP !== '');
    if (running.length === want && last.length === want) return running;
    await new Promise((r) => setTimeout(r, 500));
  }
  const describe = await cluster.kubectl(['-n', ns, 'describe', 'pods', '-l', selector]);
  const pvcs = await cluster.kubectl(['-n', ns, 'get', 'pvc,pv', '-o', 'wide']);
  throw new Error(
    `timed out waiting for ${want} Running pods (${selector}) in ${ns}; have ${JSON.stringify(last)}\n` +
      `${describe.stdout.slice(-4000)}\n${pvcs.stdout}\nscheduler log:\n${await cluster.logTail('kube-scheduler', 20)}`,
  );
}

function assertSpread(pods: PodInfo[], want: number): void {
  assert.equal(pods.length, want, 'pod count');
  const nodes = new Set(pods.map((p) => p.nodeName));
  assert.equal(nodes.size, want, `pods must be on distinct nodes: ${JSON.stringify(pods)}`);
  for (const p of pods) {
    const n = KAFKA_NODES.get(p.nodeName);
    assert.ok(n, `pod ${p.name} on ${p.nodeName}, which is not labelled runapp=kafka`);
    assert.equal(p.hostIP, n.internalIP, `pod ${p.name} hostIP`);
  }
}

/**
 * Serve an allow-everything AdmissionReview endpoint over HTTPS on 127.0.0.1 (cert from the
 * cluster CA, IP SAN 127.0.0.1), register it for pod CREATE in namespace "hooked", create a pod
 * and read the webhook's latency histogram from the apiserver's /metrics.
 */
async function checkWebhookPlumbing(cluster: Cluster): Promise<void> {
  const cert = await cluster.issueCert({
    name: 'noop-webhook',
    commonName: '127.0.0.1',
    ipSANs: ['127.0.0.1'],
  });
  let calls = 0;
  const callCount = (): number => calls;
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      calls++;
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: string } };
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: { uid: review.request?.uid ?? '', allowed: true },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  try {
    const addr = server.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const before = await cluster.webhookAdmissionMetrics();
    await cluster.apply(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: { name: 'hooked', labels: { 'kni-e2e/hooked': 'true' } },
          },
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'MutatingWebhookConfiguration',
            metadata: { name: 'kni-e2e-noop' },
            webhooks: [
              {
                name: 'noop.kni-e2e.example.com',
                admissionReviewVersions: ['v1'],
                sideEffects: 'None',
                failurePolicy: 'Fail',
                timeoutSeconds: 5,
                clientConfig: {
                  url: `https://127.0.0.1:${addr.port}/mutate`,
                  caBundle: Buffer.from(cert.caPem).toString('base64'),
                },
                rules: [
                  {
                    apiGroups: [''],
                    apiVersions: ['v1'],
                    operations: ['CREATE'],
                    resources: ['pods'],
                    scope: 'Namespaced',
                  },
                ],
                namespaceSelector: { matchLabels: { 'kni-e2e/hooked': 'true' } },
              },
            ],
          },
        ],
      }),
    );
    // The apiserver picks webhook configurations up asynchronously: retry until it calls us.
    const pod = (i: number): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `p${i}`, namespace: 'hooked' },
        spec: { containers: [{ name: 'c', image: 'registry.invalid/none:0' }] },
      });
    for (let i = 0; callCount() === 0; i++) {
      assert.ok(i < 50, 'the apiserver never called the webhook');
      await cluster.kubectlOk(['create', '--dry-run=server', '-f', '-'], { input: pod(i) });
      if (callCount() === 0) await new Promise((r) => setTimeout(r, 200));
    }
    for (let i = 0; i < 5; i++) await cluster.kubectlOk(['create', '-f', '-'], { input: pod(i) });
    const delta = diffWebhookLatency(before, await cluster.webhookAdmissionMetrics());
    const h = delta.find((x) => x.name === 'noop.kni-e2e.example.com' && x.operation === 'CREATE');
    assert.ok(h, `no admission latency metric for the webhook: ${JSON.stringify(delta)}`);
    assert.ok(h.count >= 5, `webhook latency count ${h.count}`);
    say(
      `webhook ${h.name}: ${h.count} calls, mean ${((h.sumSeconds / h.count) * 1000).toFixed(1)} ms, ` +
        `p50 <= ${(histogramQuantile(0.5, h) * 1000).toFixed(1)} ms, p99 <= ${(histogramQuantile(0.99, h) * 1000).toFixed(1)} ms (type ${h.type})`,
    );
    await cluster.kubectlOk(['delete', 'mutatingwebhookconfiguration', 'kni-e2e-noop']);
  } finally {
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
      server.closeAllConnections();
    });
  }
}

async function main(): Promise<void> {
  const cluster = await startCluster({ nodes: NODES });
  let failed = false;
  try {
    say(`cluster up: ${cluster.server} (dir ${cluster.dir})`);
    const version = await cluster.kubectlOk(['version', '-o', 'json']);
    const serverVersion = (JSON.parse(version) as { serverVersion?: { gitVersion?: string } }).serverVersion;
    say(`server version ${serverVersion?.gitVersion ?? '?'}`);
    assert.match(serverVersion?.gitVersion ?? '', /^v1\.\d+\.\d+$/, 'version-stamped apiserver');

    // ---- 1. StatefulSet with required anti-affinity + nodeSelector ----
    let t = Date.now();
    await cluster.apply(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'smoke' } },
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'web-headless', namespace: 'smoke' },
            spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'tcp', port: 9092 }] },
          },
          {
            apiVersion: 'apps/v1',
            kind: 'StatefulSet',
            metadata: { name: 'web', namespace: 'smoke' },
            spec: {
              serviceName: 'web-headless',
              replicas: 3,
              podManagementPolicy: 'Parallel',
              selector: { matchLabels: { app: 'web' } },
              template: {
                metadata: { labels: { app: 'web' } },
                spec: {
                  nodeSelector: { runapp: 'kafka' },
                  affinity: {
                    podAntiAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: [
                        {
                          labelSelector: { matchLabels: { app: 'web' } },
                          topologyKey: 'kubernetes.io/hostname',
                        },
                      ],
                    },
                  },
                  // Never pulled: kwok runs no containers.
                  containers: [
                    { name: 'app', image: 'registry.invalid/none:0', ports: [{ containerPort: 9092 }] },
                  ],
                },
              },
            },
          },
        ],
      }),
    );
    const webPods = await waitForRunningPods(cluster, 'smoke', 'app=web', 3);
    assertSpread(webPods, 3);
    say(
      `StatefulSet web: 3 pods Running on ${webPods.map((p) => `${p.nodeName}/${p.hostIP}`).join(', ')} (${secs(t)})`,
    );

    // ---- 2. NodePort Service, fixed nodePort, externalTrafficPolicy Local ----
    t = Date.now();
    await cluster.apply(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web-0-external', namespace: 'smoke' },
        spec: {
          type: 'NodePort',
          externalTrafficPolicy: 'Local',
          selector: { 'statefulset.kubernetes.io/pod-name': 'web-0' },
          ports: [{ name: 'tcp', port: 9094, targetPort: 9092, nodePort: 31980 }],
        },
      }),
    );
    const svc = JSON.parse(
      await cluster.kubectlOk(['-n', 'smoke', 'get', 'svc', 'web-0-external', '-o', 'json']),
    ) as {
      spec?: { type?: string; externalTrafficPolicy?: string; ports?: { nodePort?: number }[] };
    };
    assert.equal(svc.spec?.type, 'NodePort');
    assert.equal(svc.spec.externalTrafficPolicy, 'Local');
    assert.equal(svc.spec.ports?.[0]?.nodePort, 31980);
    say(`NodePort Service stored with nodePort 31980, externalTrafficPolicy Local (${secs(t)})`);

    // ---- 3. helm template + install of an unmodified Bitnami Kafka chart ----
    if (!existsSync(KAFKA_CHART)) throw new Error(`chart not found: ${KAFKA_CHART} (set KNI_SHARED_CHARTS)`);
    t = Date.now();
    const helmValues = [
      '--set',
      'replicaCount=3',
      // the chart's default is a *soft* anti-affinity; make it required, and keep brokers on
      // the labelled nodes, so "distinct nodes" is guaranteed rather than likely
      '--set',
      'podAntiAffinityPreset=hard',
      '--set',
      'nodeSelector.runapp=kafka',
    ];
    const rendered = await cluster.helmOk([
      'template',
      'kafka',
      KAFKA_CHART,
      '--namespace',
      'kafka',
      ...helmValues,
    ]);
    const docs = parseAllDocuments(rendered).map((d) => d.toJS() as unknown);
    const sts = docs.filter(
      (d): d is { kind: string; metadata: { name: string }; spec: { replicas: number } } =>
        typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === 'StatefulSet',
    );
    const kafkaSts = sts.find((s) => s.metadata.name === 'kafka');
    assert.ok(
      kafkaSts,
      `helm template rendered no StatefulSet "kafka" (have ${sts.map((s) => s.metadata.name).join(', ')})`,
    );
    assert.equal(kafkaSts.spec.replicas, 3);
    say(
      `helm template: ${docs.length} documents, StatefulSets ${sts.map((s) => s.metadata.name).join(', ')} (${secs(t)})`,
    );

    t = Date.now();
    await cluster.helmOk(
      ['install', 'kafka', KAFKA_CHART, '--namespace', 'kafka', '--create-namespace', ...helmValues],
      {
        timeoutMs: 300_000,
      },
    );
    say(`helm install done (${secs(t)})`);
    const kafkaPods = await waitForRunningPods(
      cluster,
      'kafka',
      'app.kubernetes.io/name=kafka,app.kubernetes.io/component=kafka',
      3,
      180_000,
    );
    assertSpread(kafkaPods, 3);
    const zkPods = await waitForRunningPods(cluster, 'kafka', 'app.kubernetes.io/name=zookeeper', 1, 120_000);
    const pvcs = JSON.parse(await cluster.kubectlOk(['-n', 'kafka', 'get', 'pvc', '-o', 'json'])) as {
      items: { metadata: { name: string }; status?: { phase?: string } }[];
    };
    for (const c of pvcs.items) assert.equal(c.status?.phase, 'Bound', `PVC ${c.metadata.name}`);
    say(
      `kafka: 3 brokers Running on ${kafkaPods.map((p) => `${p.nodeName}/${p.hostIP}`).join(', ')}; ` +
        `zookeeper on ${zkPods.map((p) => p.nodeName).join(', ')}; ${pvcs.items.length} PVCs Bound (${secs(t)})`,
    );

    t = Date.now();
    await cluster.helmOk(['uninstall', 'kafka', '--namespace', 'kafka', '--wait', '--timeout', '2m']);
    say(`helm uninstall (${secs(t)})`);

    // ---- 4. a no-op mutating webhook on 127.0.0.1: called, and its latency is in /metrics ----
    t = Date.now();
    await checkWebhookPlumbing(cluster);
    say(`no-op webhook called for pod CREATE; latency visible in apiserver /metrics (${secs(t)})`);
  } catch (err) {
    failed = true;
    console.error(err);
    for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const) {
      console.error(`---- last lines of ${c}.log ----\n${await cluster.logTail(c, 15)}`);
    }
  } finally {
    const ts = Date.now();
    await cluster.stop();
    say(`cluster stopped (${secs(ts)})`);
  }
  if (failed) {
    say('FAILED');
    process.exitCode = 1;
  } else {
    say(`OK (total ${secs(t0)})`);
  }
}

await main();
