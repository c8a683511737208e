/**
 * Issue 22's scale benchmark, on the real control plane (test/e2e/cluster.ts: etcd, kube-apiserver,
 * kwok nodes) with the webhook as the e2e runs it (the shipped webhook configuration, the manifests'
 * ServiceAccount and RBAC, namespaces opted in with the label and the RoleBinding):
 *
 *  1. `helm install` of bitnami/kafka 12.9.5, 3 replicas, in an empty cluster;
 *  2. then 12,000 Services over 30 namespaces that did not opt in, and 2,000 Secrets in the
 *     release's namespace, 200 of them other releases' Helm records (each holding a real render);
 *  3. the same install again, in that namespace.
 *
 * Per step: the webhook's own time per mutated admission (its audit `durationMs`), the API
 * server's `apiserver_admission_webhook_admission_duration_seconds` mean for the webhook during the
 * install, and the webhook's RSS; and the RSS growth per 1,000 Services. A benchmark, not a test:
 * missed targets are printed and recorded, they do not fail the run.
 *
 *   node bench/scaleBench.ts [--quick]     # --quick: a tenth of the objects (the CI smoke)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { connectKube, type KubeClient } from '../src/server/kubeClient.ts';
import { CHARTS, RELEASE, chartPath, setFlags } from '../test/e2e/charts.ts';
import { diffWebhookLatency, startCluster, type Cluster, type WebhookLatency } from '../test/e2e/cluster.ts';
import {
  INJECT_LABEL,
  NODE_SELECTOR_ANNOTATION,
  createNamespace,
  registerWebhook,
  startWebhook,
} from '../test/e2e/webhookCluster.ts';
import { ensureBuilt, type WebhookProcess } from '../test/e2e/webhookProcess.ts';
import { memoryOf } from './processes.ts';
import { RENDERED_DIR } from './requests.ts';
import { round } from './stats.ts';

const WEBHOOK_NAME = 'inject.kafka-nodeport-injector.io';
const CHART = CHARTS.find((c) => c.dir === 'bitnami-kafka-12.9.5');
/** What each other release's record holds: a real render of the same chart. */
const RECORD_MANIFEST = join(RENDERED_DIR, 'bitnami-kafka-12.9.5_replicas3.yaml');
/** Requests in flight while filling the cluster. */
const FILL_CONCURRENCY = 32;

export const SCALE_TARGETS = { webhookMsMax: 20, apiServerMeanMsMax: 25 } as const;

export interface ScaleSize {
  services: number;
  serviceNamespaces: number;
  secrets: number;
  otherReleaseRecords: number;
}

export interface ScaleStep {
  name: string;
  /** The webhook's own durationMs of each mutated admission of the install. */
  mutatedMs: { count: number; max: number; mean: number };
  /** Each mutated admission: `Service kafka 3.2`. */
  mutated: string[];
  /** The API server's view of every admission of our webhook during the install. */
  apiServer: { admissions: number; meanMs: number };
  webhookRssMiB: number;
}

export interface ScaleResult {
  size: ScaleSize;
  steps: ScaleStep[];
  /** Idle RSS before and after filling the cluster, and the difference per 1,000 Services. */
  idleRssMiB: { empty: number; filled: number; per1000Services: number };
  fillSeconds: number;
  targets: { name: string; target: string; value: string; holds: boolean }[];
}

export function scaleSize(quick: boolean): ScaleSize {
  const tenth = quick ? 10 : 1;
  return {
    services: 12_000 / tenth,
    serviceNamespaces: 30,
    secrets: 2_000 / tenth,
    otherReleaseRecords: 200 / tenth,
  };
}

async function pool<T>(items: T[], work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: FILL_CONCURRENCY }, worker));
}

/** A Helm release record of another release (pending never: deployed, as a settled release). */
function otherRecord(namespace: string, release: string, manifest: string): unknown {
  const helm = gzipSync(JSON.stringify({ name: release, version: 1, manifest })).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'helm.sh/release.v1',
    metadata: {
      name: `sh.helm.release.v1.${release}.v1`,
      namespace,
      labels: { owner: 'helm', name: release, version: '1', status: 'deployed' },
    },
    data: { release: Buffer.from(helm).toString('base64') },
  };
}

async function fill(admin: KubeClient, cluster: Cluster, size: ScaleSize, releaseNs: string): Promise<void> {
  const namespaces = Array.from({ length: size.serviceNamespaces }, (_, i) => `scale-svc-${String(i)}`);
  for (const ns of namespaces) await cluster.kubectlOk(['create', 'namespace', ns]);
  const services = Array.from({ length: size.services }, (_, i) => i);
  await pool(services, (i) =>
    admin.create(`/api/v1/namespaces/${namespaces[i % namespaces.length] ?? ''}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${String(i)}`, labels: { app: `app-${String(i % 97)}` } },
      spec: {
        selector: { app: `app-${String(i % 97)}` },
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      },
    }),
  );
  const manifest = await readFile(RECORD_MANIFEST, 'utf8');
  const secrets = Array.from({ length: size.secrets }, (_, i) => i);
  await pool(secrets, (i) =>
    admin.create(
      `/api/v1/namespaces/${releaseNs}/secrets`,
      i < size.otherReleaseRecords
        ? otherRecord(releaseNs, `other-${String(i)}`, manifest)
        : {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: `app-secret-${String(i)}` },
            stringData: { password: `p-${String(i)}`.repeat(32) },
          },
    ),
  );
}

function ours(latencies: WebhookLatency[]): { admissions: number; meanMs: number } {
  const mine = latencies.filter((h) => h.name === WEBHOOK_NAME);
  const count = mine.reduce((n, h) => n + h.count, 0);
  const sum = mine.reduce((n, h) => n + h.sumSeconds, 0);
  return { admissions: count, meanMs: count > 0 ? round((sum / count) * 1000, 2) : Number.NaN };
}

async function installStep(
  name: string,
  cluster: Cluster,
  webhook: WebhookProcess,
  ns: string,
): Promise<ScaleStep> {
  if (!CHART) throw new Error('bitnami-kafka-12.9.5 is not a corpus chart');
  const before = await cluster.webhookAdmissionMetrics();
  const from = webhook.audit.length;
  await cluster.helmOk(['install', RELEASE, chartPath(CHART), '-n', ns, ...setFlags(CHART.values)], {
    timeoutMs: 180_000,
  });
  const apiServer = ours(diffWebhookLatency(before, await cluster.webhookAdmissionMetrics()));
  const records = webhook.since(from).filter((r) => r.namespace === ns && r.decision === 'mutated');
  const mutated = records.map((r) => r.durationMs);
  if (mutated.length === 0) throw new Error(`${name}: no mutated admission (the install was not exposed)`);
  return {
    name,
    mutatedMs: {
      count: mutated.length,
      max: round(Math.max(...mutated), 2),
      mean: round(mutated.reduce((a, b) => a + b, 0) / mutated.length, 2),
    },
    mutated: records.map((r) => `${r.kind} ${r.name} ${String(r.durationMs)}`),
    apiServer,
    webhookRssMiB: round(memoryOf(webhook.pid ?? 0)?.rssMiB ?? Number.NaN, 1),
  };
}

/** The webhook's RSS once it has been quiet a moment (after a GC it cannot be forced to do). */
async function idleRss(webhook: WebhookProcess): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return memoryOf(webhook.pid ?? 0)?.rssMiB ?? Number.NaN;
}

export async function runScaleBench({ quick }: { quick: boolean }): Promise<ScaleResult> {
  await ensureBuilt();
  const size = scaleSize(quick);
  const cluster = await startCluster({
    nodes: ['a', 'b', 'c'].map((n, i) => ({
      name: `scale-${n}`,
      internalIP: `203.0.113.${String(31 + i)}`,
      labels: { runapp: 'kafka' },
    })),
    // 12,000 ClusterIP Services need more than the harness's /24.
    apiserverArgs: ['--service-cluster-ip-range=10.0.0.0/16'],
    log: () => undefined,
  });
  let webhook: WebhookProcess | undefined;
  try {
    const started = await startWebhook(cluster);
    webhook = started.webhook;
    await registerWebhook(cluster, webhook, started.caPem);
    const admin = await connectKube({ kind: 'file', path: cluster.kubeconfigPath });
    const annotations = { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka' };
    await createNamespace(cluster, 'scale-empty', INJECT_LABEL, {
      ...annotations,
      'kafka-nodeport-injector/node-port': '30090',
    });
    await createNamespace(cluster, 'scale-full', INJECT_LABEL, {
      ...annotations,
      'kafka-nodeport-injector/node-port': '30091',
    });
    const empty = await installStep('empty cluster', cluster, webhook, 'scale-empty');
    const rssEmpty = await idleRss(webhook);
    const fillStart = performance.now();
    await fill(admin, cluster, size, 'scale-full');
    const fillSeconds = round((performance.now() - fillStart) / 1000, 1);
    const rssFilled = await idleRss(webhook);
    const full = await installStep(
      `${size.services.toLocaleString('en')} Services, ${size.secrets.toLocaleString('en')} Secrets (${String(size.otherReleaseRecords)} records)`,
      cluster,
      webhook,
      'scale-full',
    );
    const steps = [empty, full];
    const worst = Math.max(...steps.map((s) => s.mutatedMs.max));
    return {
      size,
      steps,
      idleRssMiB: {
        empty: round(rssEmpty, 1),
        filled: round(rssFilled, 1),
        per1000Services: round(((rssFilled - rssEmpty) / size.services) * 1000, 2),
      },
      fillSeconds,
      targets: [
        {
          name: 'webhook time, every mutated admission, both steps',
          target: `<= ${String(SCALE_TARGETS.webhookMsMax)} ms`,
          value: `max ${String(worst)} ms`,
          holds: worst <= SCALE_TARGETS.webhookMsMax,
        },
        {
          name: `API server mean for the webhook, ${full.name}`,
          target: `<= ${String(SCALE_TARGETS.apiServerMeanMsMax)} ms`,
          value: `${String(full.apiServer.meanMs)} ms over ${String(full.apiServer.admissions)} admissions`,
          holds: full.apiServer.meanMs <= SCALE_TARGETS.apiServerMeanMsMax,
        },
      ],
    };
  } finally {
    await webhook?.stop();
    await cluster.stop();
  }
}

export function printScale(result: ScaleResult): void {
  const rows = result.steps.map(
    (s) =>
      `| ${s.name} | ${String(s.mutatedMs.count)} | ${String(s.mutatedMs.mean)} | ${String(s.mutatedMs.max)} | ${String(s.apiServer.admissions)} | ${String(s.apiServer.meanMs)} | ${String(s.webhookRssMiB)} |`,
  );
  console.log(
    [
      '',
      'Scale (helm install bitnami/kafka 12.9.5, 3 replicas, through the webhook on a real control plane):',
      '| step | mutated admissions | webhook mean ms | webhook max ms | API server admissions | API server mean ms | webhook RSS MiB |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      `idle RSS ${String(result.idleRssMiB.empty)} MiB empty, ${String(result.idleRssMiB.filled)} MiB filled: ${String(result.idleRssMiB.per1000Services)} MiB per 1,000 Services (filled in ${String(result.fillSeconds)} s)`,
      ...result.targets.map((t) => `${t.holds ? 'holds' : 'NO   '}  ${t.name}: ${t.target}; ${t.value}`),
    ].join('\n'),
  );
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const result = await runScaleBench({ quick: values.quick });
  printScale(result);
  console.log(JSON.stringify(result));
}
