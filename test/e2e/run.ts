/**
 * `npm run test:e2e`: the webhook against a real control plane (test/e2e/cluster.ts), with every
 * chart in ../shared/charts installed by a real helm. Prints one `ok` / `not ok` line per check,
 * the figures, and last `N passed, N failed`; exits 1 on any failure.
 *
 *  1. cluster on 127.0.0.1: three kwok nodes labelled runapp=kafka (203.0.113.11-13), one not
 *     (203.0.113.14); the built `bin/kafka-nodeport-injector serve` with a serving certificate from
 *     the cluster CA (IP SAN 127.0.0.1) and `--kubeconfig`; the shipped
 *     manifests/base/mutatingwebhookconfiguration.yaml with only `clientConfig` replaced.
 *  2. per chart (defaults): install in a namespace that did not opt in (the stored release is the
 *     chart's output, untouched; the "without webhook" time), then in an opted-in namespace
 *     annotated node-selector=runapp=kafka: stored objects mutated per SPEC §3 and equal to
 *     `mutate`'s output of the same manifest, pods placed by the real scheduler on distinct
 *     labelled nodes, each advertising `<its hostIP>:31980` (container-start simulation of the
 *     pod's own spec), then uninstall. One chart per wiring family also runs upgrade (no change,
 *     then a harmless value) and rollback.
 *  3. the SPEC §7 variants (charts-rendered/README.md): dedicated broker StatefulSets exposed; the
 *     chart's own per-broker NodePort access left alone, also for a Service created after its
 *     StatefulSet; the story's own values (OUTSIDE://1.1.1.1:9094) on 12.9.5 and 21.4.6, judged
 *     right after the first install; Helm 4 (server-side apply) installs, upgrades and rolls back;
 *     every value variant of test/support/chartVariants.ts right after `helm install`; `kubectl
 *     apply` of a render in both orders of kinds; every chart and variant again with Helm 4.
 *  4. `mutate` as a Helm post-renderer; `kubectl apply --dry-run=server`; two node-ports side by
 *     side and a clash; the webhook stopped and restarted (failurePolicy Fail).
 *  5. test/e2e/self-managed-certs.ts, when present, as a sub-step (its own cluster).
 *  Before the charts: the webhook's own Kubernetes client against the API server
 *  (kubeClientSteps.ts).
 *
 * Env: KNI_E2E_BIN_DIR, KNI_E2E_KEEP (see README.md), SHARED_DIR (default ../shared beside the
 * repository), KNI_SKIP_BUILD=1 (use dist/ as it is), KNI_E2E_ONLY=<substring> (only the charts
 * and variants whose name contains it, e.g. `_` for the variants; the other steps still run,
 * self-managed-certs.ts does not), KNI_E2E_CLI=<path> (another build of the CLI, e.g. to try a
 * fix).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { ANNOTATION_PREFIX } from '../../src/core/config.ts';
import { NODE_ADDRESS_MAP } from '../../src/core/nodeAddresses.ts';
import {
  assertExposed,
  assertPlacement,
  controllerRevisions,
  getStatefulSet,
  rollOnDelete,
  statusAnnotation,
  STATUS_ANNOTATION,
  waitForBrokerPods,
  type BrokerPod,
  type ServiceObj,
} from './brokerChecks.ts';
import {
  CHARTS,
  RELEASE,
  VARIANTS,
  caseName,
  chartPath,
  checkCorpus,
  HELM4_CASES,
  INCOMING,
  setFlags,
  type ChartCase,
} from './charts.ts';
import {
  diffWebhookLatency,
  histogramQuantile,
  run,
  startCluster,
  type Cluster,
  type ExecResult,
  type FakeNode,
  type WebhookLatency,
} from './cluster.ts';
import { kubeClientSteps } from './kubeClientSteps.ts';
import { leastPrivilegeSteps } from './leastPrivilegeSteps.ts';
import {
  changedPaths,
  getObject,
  listObjects,
  omitPaths,
  parseManifests,
  releaseDiffs,
  storedCounterparts,
  type KubeObj,
} from './storedObjects.ts';
import { VALUE_VARIANTS } from '../support/chartVariants.ts';
import { CLI, REPO_ROOT, WebhookProcess, ensureBuilt, type AuditRecord } from './webhookProcess.ts';
import {
  INJECT_LABEL,
  NODE_SELECTOR_ANNOTATION,
  createNamespace,
  grantReads,
  registerWebhook,
  startWebhook,
} from './webhookCluster.ts';
import { grantCommand } from '../../src/core/optInGrant.ts';

const NODES: FakeNode[] = [
  // ExternalIPs for the address-type steps; kafka-c has none (it falls back to its Hostname).
  { name: 'kafka-a', internalIP: '203.0.113.11', externalIP: '198.51.100.11', labels: { runapp: 'kafka' } },
  { name: 'kafka-b', internalIP: '203.0.113.12', externalIP: '198.51.100.12', labels: { runapp: 'kafka' } },
  { name: 'kafka-c', internalIP: '203.0.113.13', labels: { runapp: 'kafka' } },
  { name: 'plain-d', internalIP: '203.0.113.14' },
];
const EXTERNAL_IPS: Record<string, string> = Object.fromEntries(
  NODES.flatMap((n) => (n.externalIP ? [[n.name, n.externalIP]] : [])),
);
const NOT_RELEASE_CONFIGMAPS = ['kube-root-ca.crt', 'kafka-nodeport-injector-node-addresses'];
const LABELLED = NODES.filter((n) => n.labels?.['runapp'] === 'kafka');
const WEBHOOK_NAME = 'inject.kafka-nodeport-injector.io';
const NODE_PORT_ANNOTATION = 'kafka-nodeport-injector/node-port';
const LISTENER_PORT_ANNOTATION = 'kafka-nodeport-injector/listener-port';
const DEFAULT_NODE_PORT = 31980;
const EXPECT = { nodePort: DEFAULT_NODE_PORT, nodeSelector: { runapp: 'kafka' }, release: RELEASE };

const t0 = Date.now();
const secs = (ms: number): string => (ms / 1000).toFixed(2);
const say = (msg: string): void => {
  console.log(`[e2e +${secs(Date.now() - t0)}s] ${msg}`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Tally
// ---------------------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
const failures: string[] = [];
let diagnose: () => Promise<string> = () => Promise.resolve('');

/** Run one check; a thrown error fails it (and is printed with the webhook's and apiserver's logs). */
async function check(name: string, fn: () => Promise<void>): Promise<boolean> {
  const started = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name} (${secs(Date.now() - started)}s)`);
    return true;
  } catch (err) {
    failed += 1;
    failures.push(name);
    console.log(`not ok - ${name} (${secs(Date.now() - started)}s)`);
    console.log(
      `  ${(err instanceof Error ? (err.stack ?? err.message) : String(err)).replaceAll('\n', '\n  ')}`,
    );
    console.log(`  ${(await diagnose()).replaceAll('\n', '\n  ')}`);
    return false;
  }
}

function notRun(name: string, why: string): void {
  failed += 1;
  failures.push(name);
  console.log(`not ok - ${name} (not run: ${why})`);
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

interface ChartFigures {
  chart: string;
  plainInstallMs?: number;
  plainReadyMs?: number;
  installMs?: number;
  readyMs?: number;
  /** apiserver_admission_webhook_admission_duration_seconds during the opted-in install. */
  latency?: WebhookLatency;
  /** The webhook's own durationMs of those admissions. */
  selfMs?: number[];
}
const figures: ChartFigures[] = [];

/** Sum per-operation histograms of our webhook into one (same bucket bounds). */
function combined(hs: WebhookLatency[]): WebhookLatency | undefined {
  const ours = hs.filter((h) => h.name === WEBHOOK_NAME);
  const first = ours[0];
  if (!first) return undefined;
  return ours.slice(1).reduce<WebhookLatency>(
    (acc, h) => ({
      ...acc,
      operation: acc.operation === h.operation ? acc.operation : 'ALL',
      count: acc.count + h.count,
      sumSeconds: acc.sumSeconds + h.sumSeconds,
      buckets: acc.buckets.map((b) => ({
        le: b.le,
        count: b.count + (h.buckets.find((x) => x.le === b.le)?.count ?? 0),
      })),
    }),
    first,
  );
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

const ms = (s: number): string => (Number.isNaN(s) ? '-' : (s * 1000).toFixed(1));

function printFigures(overall: WebhookLatency | undefined, records: AuditRecord[]): void {
  const header = [
    'chart',
    'install s (plain)',
    'install s (webhook)',
    'ratio',
    'brokers Running s (plain)',
    'brokers Running s (webhook)',
    'admissions',
    'apiserver mean / p50 / p99 ms',
    'webhook self p50 / p99 ms',
  ];
  const rows = figures.map((f) => {
    const ratio =
      f.installMs !== undefined && f.plainInstallMs !== undefined
        ? (f.installMs / f.plainInstallMs).toFixed(2)
        : '-';
    const h = f.latency;
    return [
      f.chart,
      f.plainInstallMs === undefined ? '-' : secs(f.plainInstallMs),
      f.installMs === undefined ? '-' : secs(f.installMs),
      ratio,
      f.plainReadyMs === undefined ? '-' : secs(f.plainReadyMs),
      f.readyMs === undefined ? '-' : secs(f.readyMs),
      String(h?.count ?? 0),
      h
        ? `${ms(h.sumSeconds / h.count)} / ${ms(histogramQuantile(0.5, h))} / ${ms(histogramQuantile(0.99, h))}`
        : '-',
      f.selfMs && f.selfMs.length > 0
        ? `${quantile(f.selfMs, 0.5).toFixed(1)} / ${quantile(f.selfMs, 0.99).toFixed(1)}`
        : '-',
    ];
  });
  console.log(
    '\nFigures (install: `helm install` wall time; Running: from its start until every broker pod Runs; ' +
      'apiserver: apiserver_admission_webhook_admission_duration_seconds of our webhook during the install, ' +
      "quantiles interpolated in its buckets; self: the audit lines' durationMs):",
  );
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  if (overall) {
    console.log(
      `whole run, as the API server saw our webhook: ${overall.count} admissions, mean ${ms(overall.sumSeconds / overall.count)} ms, ` +
        `p50 ${ms(histogramQuantile(0.5, overall))} ms, p99 ${ms(histogramQuantile(0.99, overall))} ms ` +
        `(buckets ${overall.buckets.map((b) => (b.le === Infinity ? '+Inf' : String(b.le))).join(', ')} s)`,
    );
  }
  for (const kind of ['StatefulSet', 'Service']) {
    const d = records.filter((a) => a.kind === kind && a.decision !== 'skipped').map((a) => a.durationMs);
    if (d.length === 0) continue;
    console.log(
      `whole run, the webhook's own durationMs for Kafka ${kind}s: ${d.length} decisions, p50 ${quantile(d, 0.5).toFixed(2)} ms, ` +
        `p99 ${quantile(d, 0.99).toFixed(2)} ms, max ${Math.max(...d).toFixed(2)} ms`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster helpers
// ---------------------------------------------------------------------------------------------

async function deleteNamespace(cluster: Cluster, name: string): Promise<void> {
  await cluster.api('DELETE', `/api/v1/namespaces/${name}`);
}

/** A namespace-safe (RFC 1123 label) form of a case name. */
const slug = (name: string): string => name.toLowerCase().replace(/[^a-z0-9-]/g, '-');

function helmFor(cluster: Cluster, c: ChartCase): Cluster['helm'] {
  return (args, opts) => (c.helm4 === true ? cluster.helm4(args, opts) : cluster.helm(args, opts));
}

async function installChart(
  cluster: Cluster,
  c: ChartCase,
  ns: string,
  extra: string[] = [],
): Promise<{ result: ExecResult; ms: number }> {
  const started = Date.now();
  const helm = helmFor(cluster, c);
  const result = await helm(['install', RELEASE, chartPath(c), '-n', ns, ...setFlags(c.values), ...extra], {
    timeoutMs: 180_000,
  });
  return { result, ms: Date.now() - started };
}

function helmOk(r: ExecResult, what: string): void {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stderr.trim()}\n${r.stdout.trim()}`);
}

async function releaseManifest(cluster: Cluster, ns: string): Promise<{ text: string; objects: KubeObj[] }> {
  const text = await cluster.helmOk(['get', 'manifest', RELEASE, '-n', ns]);
  return { text, objects: parseManifests(text) };
}

/** What `mutate` makes of the same manifest with the namespace's annotations: the CLI door to the core. */
async function mutateOffline(text: string, annotations: Record<string, string>): Promise<KubeObj[]> {
  const args = [
    CLI,
    'mutate',
    ...Object.entries(annotations).flatMap(([k, v]) => ['--namespace-annotations', `${k}=${v}`]),
  ];
  const r = await run(process.execPath, args, { input: text, cwd: REPO_ROOT });
  if (r.code !== 0) throw new Error(`mutate exited ${r.code}: ${r.stderr}`);
  return parseManifests(r.stdout);
}

/** Wait until the webhook's audit log holds a record matching `pred` (the pipe may lag the answer). */
/** The stored objects are what `mutate` makes of `text` (the webhook and the CLI agree). */
async function assertStoredAsMutate(
  cluster: Cluster,
  ns: string,
  text: string,
  annotations: Record<string, string>,
): Promise<(KubeObj | undefined)[]> {
  const expected = await mutateOffline(text, annotations);
  const stored = await storedCounterparts(cluster, ns, expected);
  assert.deepEqual(releaseDiffs(expected, stored), []);
  return stored;
}

function assertNoErrorOrDenial(records: AuditRecord[], ns: string): void {
  const bad = records.filter(
    (a) => a.namespace === ns && (a.decision === 'error' || a.decision === 'denied'),
  );
  assert.deepEqual(bad, [], 'no admission error or denial');
}

async function auditRecord(
  webhook: WebhookProcess,
  from: number,
  pred: (r: AuditRecord) => boolean,
  timeoutMs = 5000,
): Promise<AuditRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = webhook.since(from).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error('no matching audit record');
    await sleep(50);
  }
}

/**
 * After `helm uninstall --wait`: nothing of the release is left but its PVCs (StatefulSets keep
 * those by design). Pods go through the garbage collector, so give them a moment.
 */
async function assertUninstalled(cluster: Cluster, ns: string): Promise<void> {
  const leftovers = async (): Promise<string[]> => {
    const left: string[] = [];
    for (const [apiVersion, kind] of [
      ['apps/v1', 'StatefulSet'],
      ['v1', 'Service'],
      ['v1', 'ConfigMap'],
      ['v1', 'Secret'],
      ['v1', 'Pod'],
      ['policy/v1', 'PodDisruptionBudget'],
    ] as const) {
      for (const o of await listObjects(cluster, apiVersion, kind, ns)) {
        // Not the release's: the API server's CA bundle, and the webhook's node-address map.
        if (kind === 'ConfigMap' && NOT_RELEASE_CONFIGMAPS.includes(o.metadata?.name ?? '')) continue;
        left.push(`${kind} ${o.metadata?.name ?? ''}`);
      }
    }
    return left;
  };
  const deadline = Date.now() + 60_000;
  let left = await leftovers();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(250);
    left = await leftovers();
  }
  assert.deepEqual(left, [], `objects left after helm uninstall in ${ns}`);
  const releases = await cluster.helmOk(['list', '-n', ns, '-a', '-q']);
  assert.equal(releases.trim(), '', 'helm list is empty');
}

async function uninstall(cluster: Cluster, ns: string): Promise<void> {
  helmOk(await cluster.helm(['uninstall', RELEASE, '-n', ns, '--wait', '--timeout', '2m']), 'helm uninstall');
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

async function chartSteps(
  cluster: Cluster,
  webhook: WebhookProcess,
  c: ChartCase,
  withoutWebhook: boolean,
): Promise<void> {
  const name = caseName(c);
  const fig: ChartFigures = { chart: name };
  const plainNs = `plain-${slug(name)}`;
  const ns = `inject-${slug(name)}`;
  const nsAnnotations = { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka' };

  if (withoutWebhook) {
    figures.push(fig);
    await check(
      `${name}: in a namespace that did not opt in, the stored release is the chart's output, untouched`,
      async () => {
        await createNamespace(cluster, plainNs, {}, nsAnnotations);
        const from = webhook.audit.length;
        const install = await installChart(cluster, c, plainNs);
        helmOk(install.result, 'helm install');
        fig.plainInstallMs = install.ms;
        const started = Date.now() - install.ms;
        await waitForBrokerPods(cluster, plainNs, c.brokers);
        fig.plainReadyMs = Date.now() - started;
        await assertUntouched(cluster, plainNs, c);
        assert.deepEqual(
          webhook.since(from).filter((a) => a.namespace === plainNs),
          [],
          'the API server never called the webhook for this namespace',
        );
      },
    );
    await uninstall(cluster, plainNs).catch(() => undefined);
    void deleteNamespace(cluster, plainNs);
  }

  if (c.expect === 'already-exposed') {
    await check(
      `${name}: the chart's own per-broker external access is left alone (already-exposed): stored release = chart output`,
      async () => {
        await createNamespace(cluster, ns, INJECT_LABEL, nsAnnotations);
        const from = webhook.audit.length;
        helmOk((await installChart(cluster, c, ns)).result, 'helm install');
        await waitForBrokerPods(cluster, ns, c.brokers);
        await assertUntouched(cluster, ns, c);
        const records = webhook.since(from).filter((a) => a.namespace === ns);
        for (const b of c.brokers) {
          const r = records.find((a) => a.kind === 'StatefulSet' && a.name === b.name);
          assert.equal(
            `${r?.decision ?? ''} ${r?.reason ?? ''}`,
            'unchanged already-exposed',
            `audit: StatefulSet ${b.name}`,
          );
        }
        const svc = records.find((a) => a.kind === 'Service' && a.name === c.clientService);
        assert.equal(
          `${svc?.decision ?? ''} ${svc?.reason ?? ''}`,
          'unchanged already-exposed',
          'audit: client Service',
        );
      },
    );
  } else {
    let pods: BrokerPod[] = [];
    const installed = await check(
      `${name}: helm install through the webhook: StatefulSet and client Service stored mutated, brokers on distinct runapp=kafka nodes advertising <hostIP>:${DEFAULT_NODE_PORT}`,
      async () => {
        await createNamespace(cluster, ns, INJECT_LABEL, nsAnnotations);
        const from = webhook.audit.length;
        const before = await cluster.webhookAdmissionMetrics();
        const install = await installChart(cluster, c, ns);
        helmOk(install.result, 'helm install');
        fig.installMs = install.ms;
        const started = Date.now() - install.ms;
        pods = await waitForBrokerPods(cluster, ns, c.brokers);
        fig.readyMs = Date.now() - started;
        fig.latency = combined(diffWebhookLatency(before, await cluster.webhookAdmissionMetrics()));
        const records = webhook.since(from).filter((a) => a.namespace === ns);
        fig.selfMs = records.map((a) => a.durationMs);

        assertPlacement(pods, LABELLED);
        const { objects } = await releaseManifest(cluster, ns);
        const exposure = await assertExposed(cluster, ns, pods, objects, c.clientService, EXPECT);
        for (const line of exposure.endpoints) say(`  ${line}`);
        for (const b of c.brokers) {
          const r = records.find(
            (a) => a.kind === 'StatefulSet' && a.name === b.name && a.operation === 'CREATE',
          );
          assert.equal(r?.decision, 'mutated', `audit: StatefulSet ${b.name} mutated`);
          assert.equal(r.user, 'kni-e2e-admin', "audit: the user is helm's");
          assert.equal(r.dryRun, false);
        }
        assertNoErrorOrDenial(records, ns);
      },
    );

    if (installed) {
      await check(
        `${name}: the webhook and \`mutate\` agree: stored objects = \`mutate\` of the release manifest`,
        async () => {
          await assertStoredAsMutate(cluster, ns, (await releaseManifest(cluster, ns)).text, nsAnnotations);
        },
      );
    } else {
      notRun(`${name}: the webhook and \`mutate\` agree`, 'install failed');
    }

    if (c.lifecycle) {
      if (installed) await lifecycleSteps(cluster, webhook, c, ns, pods);
      else
        for (const s of ['upgrade, no change', 'upgrade --set-string', 'rollback'])
          notRun(`${name}: ${s}`, 'install failed');
    }
  }

  await check(`${name}: helm uninstall leaves nothing of the release (PVCs aside)`, async () => {
    await uninstall(cluster, ns);
    await assertUninstalled(cluster, ns);
  });
  void deleteNamespace(cluster, ns);
}

/** Nothing of the release carries our annotation, the client Service is ClusterIP, and the stored objects contain the chart output. */
async function assertUntouched(cluster: Cluster, ns: string, c: ChartCase): Promise<void> {
  const { objects } = await releaseManifest(cluster, ns);
  const stored = await storedCounterparts(cluster, ns, objects);
  assert.deepEqual(releaseDiffs(objects, stored), [], 'stored objects contain the chart output unchanged');
  for (const s of stored) {
    assert.equal(
      s?.metadata?.annotations?.[STATUS_ANNOTATION],
      undefined,
      `${s?.kind ?? ''} ${s?.metadata?.name ?? ''} carries no status annotation`,
    );
  }
  const svc: ServiceObj | undefined = stored.find(
    (s) => s?.kind === 'Service' && s.metadata?.name === c.clientService,
  );
  assert.equal(svc?.spec?.type, 'ClusterIP', 'client Service stays ClusterIP');
}

interface Snapshot {
  sts: { name: string; generation?: number; spec: unknown; status?: string; revisions: string[] }[];
  svcSpec: unknown;
  svcStatus?: string;
}

async function snapshot(cluster: Cluster, ns: string, c: ChartCase): Promise<Snapshot> {
  const sts: Snapshot['sts'] = [];
  for (const b of c.brokers) {
    const s = await getStatefulSet(cluster, ns, b.name);
    sts.push({
      name: b.name,
      generation: s.metadata?.generation,
      spec: s.spec,
      status: s.metadata?.annotations?.[STATUS_ANNOTATION],
      revisions: await controllerRevisions(cluster, ns, s.metadata?.uid ?? ''),
    });
  }
  const svc = await getObject<ServiceObj>(cluster, 'v1', 'Service', ns, c.clientService);
  return { sts, svcSpec: svc?.spec, svcStatus: svc?.metadata?.annotations?.[STATUS_ANNOTATION] };
}

function rendered(objects: KubeObj[], kind: string, name: string): KubeObj | undefined {
  return objects.find((o) => o.kind === kind && o.metadata?.name === name);
}

async function lifecycleSteps(
  cluster: Cluster,
  webhook: WebhookProcess,
  c: ChartCase,
  ns: string,
  firstPods: BrokerPod[],
): Promise<void> {
  const name = caseName(c);
  // The Helm that installed the release upgrades and rolls it back: with Helm 4 that is
  // server-side apply, which fails on a field another manager owns.
  const helm = helmFor(cluster, c);
  const upgrade = async (extra: string[]): Promise<void> => {
    helmOk(
      await helm(['upgrade', RELEASE, chartPath(c), '-n', ns, ...setFlags(c.values), ...extra], {
        timeoutMs: 180_000,
      }),
      'helm upgrade',
    );
  };

  let pods = firstPods;
  await check(
    `${name}: helm upgrade with no change: stored StatefulSet (spec, generation) and Service unchanged, no new ControllerRevision, no restart`,
    async () => {
      const before = await snapshot(cluster, ns, c);
      const from = webhook.audit.length;
      await upgrade([]);
      await sleep(1500); // let the StatefulSet controller react, if it were going to
      const after = await snapshot(cluster, ns, c);
      // A chart may change its own output on a re-render (bitnami 32's checksum/secret): those
      // fields, and the restart they cause, are the chart's doing; everything else must hold.
      const rev1 = parseManifests(
        await cluster.helmOk(['get', 'manifest', RELEASE, '-n', ns, '--revision', '1']),
      );
      const rev2 = (await releaseManifest(cluster, ns)).objects;
      let chartChanged = false;
      for (const [i, s] of before.sts.entries()) {
        const a = after.sts[i];
        assert.ok(a);
        const paths = changedPaths(
          rendered(rev1, 'StatefulSet', s.name)?.['spec'],
          rendered(rev2, 'StatefulSet', s.name)?.['spec'],
        );
        assert.equal(a.status, s.status, `${s.name}: status annotation unchanged`);
        if (paths.length === 0) {
          assert.equal(a.generation, s.generation, `${s.name}: generation unchanged`);
          assert.deepEqual(a.spec, s.spec, `${s.name}: spec unchanged`);
          assert.deepEqual(a.revisions, s.revisions, `${s.name}: no new ControllerRevision`);
        } else {
          chartChanged = true;
          say(
            `  NOTE the chart itself re-renders ${s.name} differently on a no-change upgrade (${paths.join(', ')}): that restart is the chart's`,
          );
          assert.deepEqual(
            omitPaths(a.spec, paths),
            omitPaths(s.spec, paths),
            `${s.name}: spec unchanged but for the chart's own changes`,
          );
        }
      }
      const svcPaths = changedPaths(
        rendered(rev1, 'Service', c.clientService)?.['spec'],
        rendered(rev2, 'Service', c.clientService)?.['spec'],
      );
      assert.equal(after.svcStatus, before.svcStatus, 'Service status annotation unchanged');
      assert.deepEqual(
        omitPaths(after.svcSpec, svcPaths),
        omitPaths(before.svcSpec, svcPaths),
        'Service spec unchanged',
      );
      pods = await waitForBrokerPods(cluster, ns, c.brokers);
      if (!chartChanged) {
        assert.deepEqual(
          pods.map((p) => p.uid),
          firstPods.map((p) => p.uid),
          'the same broker pods (no rolling restart)',
        );
      }
      const updates = webhook.since(from).filter((a) => a.namespace === ns && a.operation === 'UPDATE');
      say(
        `  UPDATE admissions: ${updates.map((a) => `${a.kind} ${a.name} ${a.decision}`).join('; ') || 'none'}`,
      );
    },
  );

  const [key = '', value = ''] = c.harmlessValue.split('=');
  const annotationKey = key.split('.').at(-1) ?? '';
  await check(
    `${name}: helm upgrade --set-string ${c.harmlessValue}: still mutated, brokers restart onto labelled nodes`,
    async () => {
      await upgrade(['--set-string', c.harmlessValue]);
      for (const b of c.brokers) {
        const sts = await getStatefulSet(cluster, ns, b.name);
        assert.equal(
          sts.spec?.template.metadata?.annotations?.[annotationKey],
          value,
          `${b.name}: the chart's new value reached the pod template`,
        );
      }
      const rolled = await rollOnDelete(cluster, ns, c.brokers);
      if (rolled.length > 0)
        say(`  updateStrategy OnDelete: deleted ${rolled.join(', ')} as its operator would`);
      const next = await waitForBrokerPods(cluster, ns, c.brokers);
      assert.ok(
        next.every((p) => !pods.some((q) => q.uid === p.uid)),
        'every broker was restarted with the new template',
      );
      pods = next;
      assertPlacement(pods, LABELLED);
      await assertExposed(
        cluster,
        ns,
        pods,
        (await releaseManifest(cluster, ns)).objects,
        c.clientService,
        EXPECT,
      );
    },
  );

  await check(`${name}: helm rollback to revision 1: still mutated`, async () => {
    helmOk(await helm(['rollback', RELEASE, '1', '-n', ns], { timeoutMs: 180_000 }), 'helm rollback');
    for (const b of c.brokers) {
      const sts = await getStatefulSet(cluster, ns, b.name);
      assert.equal(
        sts.spec?.template.metadata?.annotations?.[annotationKey],
        undefined,
        `${b.name}: back to revision 1's template`,
      );
    }
    await rollOnDelete(cluster, ns, c.brokers);
    pods = await waitForBrokerPods(cluster, ns, c.brokers);
    assertPlacement(pods, LABELLED);
    await assertExposed(
      cluster,
      ns,
      pods,
      (await releaseManifest(cluster, ns)).objects,
      c.clientService,
      EXPECT,
    );
  });
}

/** The README's `helm install --post-renderer ./bin/kafka-nodeport-injector --post-renderer-args mutate`. */
/**
 * Helm 4 takes only the name of an installed postrenderer/v1 plugin: the repository's, installed
 * into a Helm data directory of its own (Helm 3 refuses to load a v1 plugin.yaml).
 */
async function helm4PluginStep(cluster: Cluster): Promise<void> {
  const c = CHARTS.find((x) => x.dir === 'bitnami-kafka-12.9.5');
  if (!c) return;
  const ns = 'post-renderer-helm4';
  const home = await mkdtemp(path.join(tmpdir(), 'kni-helm4-'));
  const report = path.join(home, 'report.log');
  const env = { HELM_DATA_HOME: home, KAFKA_NODEPORT_INJECTOR_REPORT: report };
  await check(
    `${c.dir}: Helm 4 with the repository's postrenderer/v1 plugin (helm-plugin/), no webhook: stored objects exposed, the report says what was done`,
    async () => {
      helmOk(
        await cluster.helm4(
          ['plugin', 'install', path.join(REPO_ROOT, 'helm-plugin/kafka-nodeport-injector')],
          {
            env,
          },
        ),
        'helm4 plugin install',
      );
      await createNamespace(cluster, ns, {}, {});
      const install = await cluster.helm4(
        [
          'install',
          RELEASE,
          chartPath(c),
          '-n',
          ns,
          ...setFlags(c.values),
          '--post-renderer',
          'kafka-nodeport-injector',
          '--post-renderer-args',
          '--node-selector=runapp=kafka',
        ],
        { env, timeoutMs: 180_000 },
      );
      helmOk(install, 'helm4 install --post-renderer kafka-nodeport-injector');
      const pods = await waitForBrokerPods(cluster, ns, c.brokers);
      assertPlacement(pods, LABELLED);
      const rendered = parseManifests(
        await cluster.helmOk(['template', RELEASE, chartPath(c), '-n', ns, ...setFlags(c.values)]),
      );
      await assertExposed(cluster, ns, pods, rendered, c.clientService, EXPECT);
      assert.match(await readFile(report, 'utf8'), /ok: 2 of \d+ objects mutated/);
    },
  );
  await cluster
    .helm4(['uninstall', RELEASE, '-n', ns, '--wait'], { env, timeoutMs: 120_000 })
    .catch(() => undefined);
  void deleteNamespace(cluster, ns);
  await rm(home, { recursive: true, force: true });
}

async function postRendererStep(cluster: Cluster): Promise<void> {
  const c = CHARTS.find((x) => x.dir === 'bitnami-kafka-12.9.5');
  if (!c) return;
  const ns = 'post-renderer';
  await check(
    `${c.dir}: \`mutate\` as a Helm post-renderer (no webhook): stored objects mutated, brokers advertise <hostIP>:${DEFAULT_NODE_PORT}`,
    async () => {
      await createNamespace(cluster, ns, {}, {});
      const install = await installChart(cluster, c, ns, [
        '--post-renderer',
        CLI,
        '--post-renderer-args',
        'mutate',
        '--post-renderer-args',
        '--node-selector=runapp=kafka',
      ]);
      helmOk(install.result, 'helm install --post-renderer');
      const pods = await waitForBrokerPods(cluster, ns, c.brokers);
      assertPlacement(pods, LABELLED);
      const rendered = parseManifests(
        await cluster.helmOk(['template', RELEASE, chartPath(c), '-n', ns, ...setFlags(c.values)]),
      );
      await assertExposed(cluster, ns, pods, rendered, c.clientService, EXPECT);
    },
  );
  await uninstall(cluster, ns).catch(() => undefined);
  void deleteNamespace(cluster, ns);
}

/**
 * A client Service admitted once its StatefulSet is stored must follow it (the webhook reads the
 * namespace's StatefulSets live): brokers the chart exposes itself (bitnami 14's own NodePort
 * external access, `already-exposed`) mean the Service is left alone too.
 */
async function serviceFollowsStatefulSetStep(cluster: Cluster, webhook: WebhookProcess): Promise<void> {
  const c = VARIANTS.find((x) => caseName(x) === 'bitnami-kafka-14.8.1_extNodePort_useHostIPs');
  if (!c) return;
  const ns = 'service-after-sts';
  await check(
    `${caseName(c)}: its client Service created after its StatefulSet is left alone like the StatefulSet (already-exposed)`,
    async () => {
      await createNamespace(cluster, ns, INJECT_LABEL, { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka' });
      const template = (file: string): Promise<string> =>
        cluster.helmOk([
          'template',
          RELEASE,
          chartPath(c),
          '-n',
          ns,
          ...setFlags(c.values),
          '--show-only',
          file,
        ]);
      await cluster.kubectlOk(['create', '-n', ns, '-f', '-'], {
        input: await template('templates/statefulset.yaml'),
      });
      const sts = await getStatefulSet(cluster, ns, c.brokers[0]?.name ?? '');
      assert.equal(statusAnnotation(sts), undefined, 'the StatefulSet is left alone (already-exposed)');
      const from = webhook.audit.length;
      const svc = JSON.parse(
        await cluster.kubectlOk(['create', '--dry-run=server', '-n', ns, '-f', '-', '-o', 'json'], {
          input: await template('templates/svc.yaml'),
        }),
      ) as ServiceObj;
      const record = await auditRecord(webhook, from, (a) => a.namespace === ns && a.kind === 'Service');
      assert.equal(
        `${record.decision} ${record.reason}`,
        'unchanged already-exposed',
        `audit: ${record.message}`,
      );
      assert.equal(statusAnnotation(svc), undefined, 'no status annotation');
      assert.equal(svc.spec?.type, 'ClusterIP', 'the Service stays ClusterIP');
    },
  );
  void deleteNamespace(cluster, ns);
}

/**
 * Every value variant of test/variants (already judged by effect there, on `helm template`),
 * installed through the webhook with Helm 3: right after `helm install` the stored objects are
 * what `mutate` makes of the release manifest, and the chart's own exposure is left alone.
 */
async function valueVariantSteps(
  cluster: Cluster,
  webhook: WebhookProcess,
  only: string | undefined,
): Promise<void> {
  for (const [i, v] of VALUE_VARIANTS.entries()) {
    const name = `${v.chart} ${v.values.filter((x) => x !== '--set').join(' ')}`;
    if (only !== undefined && !name.includes(only)) continue;
    const base = CHARTS.find((c) => c.dir === v.chart);
    if (!base) throw new Error(`test/support/chartVariants.ts names ${v.chart}, which is not a corpus chart`);
    const ns = `value-variant-${String(i)}`;
    // A node port from the range's static band (the API server never hands those out itself): some
    // variants create Services with random node ports, which could otherwise take ours.
    const nsAnnotations = { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka', [NODE_PORT_ANNOTATION]: '30080' };
    await check(
      `${name} (${v.why}): right after helm install, stored = \`mutate\` of the release (${v.expect})`,
      async () => {
        await createNamespace(cluster, ns, INJECT_LABEL, nsAnnotations);
        const from = webhook.audit.length;
        // The corpus chart's own values first (a ZooKeeper the cluster can run), then the variant's.
        const install = await cluster.helm(
          ['install', RELEASE, chartPath(base), '-n', ns, ...setFlags(base.values), ...v.values],
          { timeoutMs: 180_000 },
        );
        helmOk(install, 'helm install');
        const { text } = await releaseManifest(cluster, ns);
        const stored = await assertStoredAsMutate(cluster, ns, text, nsAnnotations);
        const mutated = stored
          .filter((o): o is KubeObj => o !== undefined && statusAnnotation(o) !== undefined)
          .map((o) => `${o.kind ?? ''} ${o.metadata?.name ?? ''}`);
        if (v.expect === 'already-exposed')
          assert.deepEqual(mutated, [], "the chart's own exposure is left alone");
        else {
          assert.ok(
            mutated.some((m) => m.startsWith('StatefulSet ')),
            `a broker StatefulSet is exposed: ${mutated.join(', ')}`,
          );
          assert.equal(
            mutated.filter((m) => m.startsWith('Service ')).length,
            1,
            `one client Service is opened: ${mutated.join(', ')}`,
          );
        }
        assertNoErrorOrDenial(webhook.since(from), ns);
      },
    );
    await uninstall(cluster, ns).catch(() => undefined);
    void deleteNamespace(cluster, ns);
  }
}

/**
 * Without Helm (no release record) a Service is decided from the cluster: `kubectl apply` of a
 * render, StatefulSets first, must store what `mutate` makes of it, judged by effect. (Services
 * first is the documented gap: README "Design: install order".)
 */
/** `kubectl apply` of a render in two batches: one kind first, then the rest. */
async function applyInOrder(
  cluster: Cluster,
  ns: string,
  objects: KubeObj[],
  firstKind: string,
): Promise<ExecResult[]> {
  const first = objects.filter((o) => o.kind === firstKind);
  const rest = objects.filter((o) => o.kind !== firstKind);
  const results: ExecResult[] = [];
  for (const batch of [first, rest]) {
    const list = { apiVersion: 'v1', kind: 'List', items: batch };
    results.push(await cluster.kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(list) }));
  }
  return results;
}

async function renderFor(
  cluster: Cluster,
  c: ChartCase,
  ns: string,
): Promise<{ text: string; objects: KubeObj[] }> {
  const text = await cluster.helmOk(['template', RELEASE, chartPath(c), '-n', ns, ...setFlags(c.values)]);
  const objects = parseManifests(text).map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns } }));
  return { text, objects };
}

/**
 * A namespace that set the label but not the RoleBinding: the webhook cannot read the release
 * record there, decides as without Helm (the Service before its brokers: aimed at the chart's
 * client port, right for the default listener), and says so with the command to run — which,
 * run, makes the next upgrade decided from the record.
 */
/** What `explain --kubeconfig` says of the webhook's grant in `ns`. */
async function explainGrant(cluster: Cluster, ns: string): Promise<{ granted?: boolean; command?: string }> {
  const r = await run(
    process.execPath,
    [CLI, 'explain', '--kubeconfig', cluster.kubeconfigPath, '-n', ns, '-o', 'json'],
    {
      cwd: REPO_ROOT,
    },
  );
  if (r.code !== 0) throw new Error(`explain exited ${r.code}: ${r.stderr}`);
  const grant = (JSON.parse(r.stdout) as { grant?: { granted?: boolean; command?: string } }).grant ?? {};
  return {
    ...(grant.granted === undefined ? {} : { granted: grant.granted }),
    ...(grant.command ? { command: grant.command } : {}),
  };
}

async function ungrantedNamespaceStep(cluster: Cluster, webhook: WebhookProcess): Promise<void> {
  const c = CHARTS.find((x) => x.dir === 'bitnami-kafka-12.9.5') ?? CHARTS[0];
  if (!c) throw new Error('no corpus chart');
  const ns = 'label-only';
  const nsAnnotations = { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka', [NODE_PORT_ANNOTATION]: '30081' };
  await check(
    `${caseName(c)} in a namespace with the label but no RoleBinding: exposed as without Helm, and helm install shows the grant command`,
    async () => {
      await createNamespace(cluster, ns, INJECT_LABEL, nsAnnotations, { grant: false });
      const from = webhook.audit.length;
      const { result } = await installChart(cluster, c, ns);
      helmOk(result, 'helm install');
      const { text } = await releaseManifest(cluster, ns);
      await assertStoredAsMutate(cluster, ns, text, nsAnnotations);
      const service = await auditRecord(
        webhook,
        from,
        (r) => r.namespace === ns && r.kind === 'Service' && r.decision === 'mutated',
      );
      assert.deepEqual(service.unread, ['Helm release records', 'StatefulSets', 'ConfigMaps']);
      const explained = await explainGrant(cluster, ns);
      assert.deepEqual(explained, { granted: false, command: grantCommand(ns) }, 'explain names the command');
      assert.ok(
        result.stderr.includes(grantCommand(ns)),
        `helm install printed the command:\n${result.stderr.slice(-600)}`,
      );
    },
  );
  await check(
    `${caseName(c)}: after the grant command, helm upgrade is decided from the release record`,
    async () => {
      await grantReads(cluster, ns);
      const from = webhook.audit.length;
      const upgrade = await helmFor(cluster, c)(
        ['upgrade', RELEASE, chartPath(c), '-n', ns, ...setFlags(c.values)],
        {
          timeoutMs: 180_000,
        },
      );
      helmOk(upgrade, 'helm upgrade');
      assert.deepEqual(await explainGrant(cluster, ns), { granted: true }, 'explain: granted');
      const service = await auditRecord(
        webhook,
        from,
        (r) => r.namespace === ns && r.kind === 'Service' && r.name === RELEASE,
      );
      assert.equal(service.unread, undefined, 'nothing unread');
      assert.ok(!upgrade.stderr.includes('create rolebinding'), 'no grant warning');
    },
  );
  await uninstall(cluster, ns).catch(() => undefined);
  void deleteNamespace(cluster, ns);
}

/**
 * Argo CD's order of kinds (gitops-engine's sync tasks, the same as Helm's install order): what it
 * applies first. Within one sync wave it applies concurrently, so any order can happen as well.
 */
const ARGO_KIND_ORDER = [
  'Namespace',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'PodSecurityPolicy',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'Service',
  'DaemonSet',
  'Pod',
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'Job',
  'CronJob',
  'IngressClass',
  'Ingress',
  'APIService',
];

/** `kubectl apply` of a render one object at a time in Argo CD's order (kinds it does not know last). */
async function applyInArgoOrder(cluster: Cluster, ns: string, objects: KubeObj[]): Promise<ExecResult[]> {
  const rank = (o: KubeObj): number => {
    const at = ARGO_KIND_ORDER.indexOf(o.kind ?? '');
    return at < 0 ? ARGO_KIND_ORDER.length : at;
  };
  const ordered = [...objects].sort((a, b) => rank(a) - rank(b));
  const results: ExecResult[] = [];
  for (const object of ordered) {
    results.push(await cluster.kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(object) }));
  }
  return results;
}

/**
 * `kubectl diff` of the render right after it was applied: a server-side dry run through the
 * webhook, compared with what is stored. Nothing may differ (the webhook decides a re-admission
 * as it decided the first).
 */
async function assertNoDiff(cluster: Cluster, ns: string, objects: KubeObj[]): Promise<void> {
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  const diff = await cluster.kubectl(['diff', '-n', ns, '-f', '-'], { input: JSON.stringify(list) });
  assert.equal(
    diff.code,
    0,
    `kubectl diff shows nothing (exit ${String(diff.code)}):\n${diff.stdout}${diff.stderr}`,
  );
}

type ApplyOrder = 'StatefulSet' | 'Service' | 'Argo CD';

/**
 * Without Helm there is no release record: a Service applied before its StatefulSet is decided
 * without its brokers. Right for a chart's own client listener; for a user-defined outside listener
 * the StatefulSet is refused, naming the Service and the way out, rather than exposed behind it.
 * That way out, `listener-port` on the namespace, makes Argo CD's order store what `mutate` gives.
 */
async function kubectlApplySteps(cluster: Cluster, webhook: WebhookProcess): Promise<void> {
  const seed = VARIANTS.find((x) => caseName(x) === 'bitnami-kafka-12.9.5_seed-outside');
  const plain = CHARTS.find((x) => x.dir === 'bitnami-kafka-12.9.5');
  if (!seed || !plain) return;
  const selector = { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka' };
  const stated = { ...selector, [LISTENER_PORT_ANNOTATION]: '9094' };
  const cases: [ChartCase, ApplyOrder, Record<string, string>][] = [
    [seed, 'StatefulSet', selector],
    [seed, 'Service', selector],
    [plain, 'Argo CD', selector],
    [seed, 'Argo CD', stated],
  ];
  for (const [c, order, nsAnnotations] of cases) {
    const ns = slug(`kubectl-${order}-first-${c.variant ?? 'default'}`);
    const refused = c === seed && order === 'Service';
    const how =
      order === 'Argo CD'
        ? `kubectl apply in Argo CD's order${LISTENER_PORT_ANNOTATION in nsAnnotations ? ', listener-port=9094 on the namespace' : ''}`
        : `kubectl apply of the render, ${order}s first`;
    const title = refused
      ? `${caseName(c)}: kubectl apply, Services first: the StatefulSet is refused (node-port-misrouted, naming the Service and listener-port) rather than exposed behind a Service aimed at CLIENT`
      : `${caseName(c)}: ${how}: stored = \`mutate\` of the render, brokers advertise <hostIP>:${DEFAULT_NODE_PORT} behind the Service${order === 'Argo CD' ? ', kubectl diff shows nothing' : ''}`;
    await check(title, async () => {
      await createNamespace(cluster, ns, INJECT_LABEL, nsAnnotations);
      const { text, objects } = await renderFor(cluster, c, ns);
      const from = webhook.audit.length;
      const results =
        order === 'Argo CD'
          ? await applyInArgoOrder(cluster, ns, objects)
          : await applyInOrder(cluster, ns, objects, order);
      if (refused) {
        const last = results.at(-1);
        assert.notEqual(last?.code, 0, 'kubectl apply fails on the StatefulSet');
        assert.match(
          last?.stderr ?? '',
          new RegExp(
            `Service ${ns}/kafka routes node port ${String(DEFAULT_NODE_PORT)} to container port 9092.*OUTSIDE listens on 9094.*${LISTENER_PORT_ANNOTATION}=9094`,
          ),
        );
        const sts = webhook
          .since(from)
          .find((a) => a.namespace === ns && a.kind === 'StatefulSet' && a.name === 'kafka');
        assert.equal(`${sts?.decision ?? ''} ${sts?.reason ?? ''}`, 'denied node-port-misrouted');
        const stored = await cluster.api('GET', `/apis/apps/v1/namespaces/${ns}/statefulsets/kafka`);
        assert.equal(stored.status, 404, 'no StatefulSet stored');
        return;
      }
      for (const r of results) assert.equal(r.code, 0, `kubectl apply: ${r.stderr}`);
      const pods = await waitForBrokerPods(cluster, ns, c.brokers);
      assertPlacement(pods, LABELLED);
      await assertExposed(cluster, ns, pods, objects, c.clientService, EXPECT);
      await assertStoredAsMutate(cluster, ns, text, nsAnnotations);
      assertNoErrorOrDenial(webhook.since(from), ns);
      if (order === 'Argo CD') await assertNoDiff(cluster, ns, objects);
    });
    // Its Service holds the node port: gone before the next release claims it.
    await cluster.kubectl(['delete', 'statefulset,service', '--all', '-n', ns, '--wait=true'], {
      timeoutMs: 60_000,
    });
    void deleteNamespace(cluster, ns);
  }
}

async function dryRunStep(cluster: Cluster, webhook: WebhookProcess): Promise<void> {
  const c = CHARTS.find((x) => x.dir === 'bitnami-kafka-12.9.5');
  if (!c) return;
  const ns = 'dry-run';
  await check(
    'kubectl apply --dry-run=server of a Kafka StatefulSet: the mutated object comes back, nothing is stored, the audit line says dryRun',
    async () => {
      await createNamespace(cluster, ns, INJECT_LABEL, { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka' });
      const sts = await cluster.helmOk([
        'template',
        RELEASE,
        chartPath(c),
        '-n',
        ns,
        ...setFlags(c.values),
        '--show-only',
        'templates/statefulset.yaml',
      ]);
      const from = webhook.audit.length;
      const out = JSON.parse(
        await cluster.kubectlOk(['apply', '--dry-run=server', '-n', ns, '-f', '-', '-o', 'json'], {
          input: sts,
        }),
      ) as KubeObj;
      assert.ok(statusAnnotation(out), 'the answer carries the status annotation');
      assert.equal(
        (out as { spec?: { template?: { spec?: { nodeSelector?: Record<string, string> } } } }).spec?.template
          ?.spec?.nodeSelector?.['runapp'],
        'kafka',
        'the answer carries the nodeSelector',
      );
      const record = await auditRecord(webhook, from, (a) => a.namespace === ns && a.kind === 'StatefulSet');
      assert.equal(record.dryRun, true, 'audit dryRun');
      assert.equal(record.decision, 'mutated', 'audit decision');
      assert.equal((await listObjects(cluster, 'apps/v1', 'StatefulSet', ns)).length, 0, 'nothing stored');
    },
  );
  void deleteNamespace(cluster, ns);
}

async function webhookDownStep(cluster: Cluster, webhook: WebhookProcess): Promise<void> {
  const c = CHARTS.find((x) => x.dir === 'bitnami-kafka-12.9.5');
  if (!c) return;
  const ns = 'webhook-down';
  await check(
    'webhook stopped: helm install fails naming the webhook (failurePolicy Fail) and stores no StatefulSet or Service',
    async () => {
      await createNamespace(cluster, ns, INJECT_LABEL, { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka' });
      await webhook.stop();
      const install = await installChart(cluster, c, ns);
      assert.notEqual(install.result.code, 0, 'helm install fails');
      const message = install.result.stderr;
      assert.match(
        message,
        new RegExp(`failed calling webhook "${WEBHOOK_NAME.replaceAll('.', '\\.')}"`),
        'message names the webhook',
      );
      say(
        `  helm: ${
          message
            .split('\n')
            .find((l) => l.includes(WEBHOOK_NAME))
            ?.trim() ?? ''
        }`,
      );
      const sts = await listObjects(cluster, 'apps/v1', 'StatefulSet', ns);
      const svcs = await listObjects(cluster, 'v1', 'Service', ns);
      assert.deepEqual(
        [...sts, ...svcs].map((o) => `${o.kind ?? ''} ${o.metadata?.name ?? ''}`),
        [],
        'no StatefulSet or Service stored: nothing half-mutated',
      );
    },
  );
  await check('webhook back: the next install in that namespace is mutated', async () => {
    if (!webhook.running) await webhook.start();
    await cluster.helm(['uninstall', RELEASE, '-n', ns, '--wait']);
    helmOk((await installChart(cluster, c, ns)).result, 'helm install');
    const pods = await waitForBrokerPods(cluster, ns, c.brokers);
    assertPlacement(pods, LABELLED);
    await assertExposed(
      cluster,
      ns,
      pods,
      (await releaseManifest(cluster, ns)).objects,
      c.clientService,
      EXPECT,
    );
  });
  if (!webhook.running) await webhook.start();
  await uninstall(cluster, ns).catch(() => undefined);
  void deleteNamespace(cluster, ns);
}

async function nodePortSteps(cluster: Cluster, webhook: WebhookProcess): Promise<void> {
  const c = CHARTS.find((x) => x.dir === 'bitnami-kafka-12.9.5');
  if (!c) return;
  const releases = [
    { ns: 'node-port-a', nodePort: 31980 },
    { ns: 'node-port-b', nodePort: 31990 },
  ];
  await check(
    'two releases in namespaces annotated node-port 31980 and 31990 coexist, each advertising its own port',
    async () => {
      for (const r of releases) {
        await createNamespace(cluster, r.ns, INJECT_LABEL, {
          [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka',
          [NODE_PORT_ANNOTATION]: String(r.nodePort),
        });
        helmOk((await installChart(cluster, c, r.ns)).result, `helm install in ${r.ns}`);
      }
      for (const r of releases) {
        const pods = await waitForBrokerPods(cluster, r.ns, c.brokers);
        assertPlacement(pods, LABELLED);
        const exposure = await assertExposed(
          cluster,
          r.ns,
          pods,
          (await releaseManifest(cluster, r.ns)).objects,
          c.clientService,
          {
            ...EXPECT,
            nodePort: r.nodePort,
          },
        );
        say(`  ${r.ns}: ${exposure.endpoints.join(', ')}`);
      }
    },
  );
  const clash = 'node-port-clash';
  await check(
    'a third release whose node-port (31980) is taken is refused at its first object, naming port, holder and annotation; nothing of it is stored mutated',
    async () => {
      await createNamespace(cluster, clash, INJECT_LABEL, {
        [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka',
        [NODE_PORT_ANNOTATION]: '31980',
      });
      const from = webhook.audit.length;
      const install = await installChart(cluster, c, clash);
      assert.notEqual(install.result.code, 0, 'helm install fails');
      const line = install.result.stderr.split('\n').find((l) => l.includes('node port 31980')) ?? '';
      say(`  helm: ${line.trim()}`);
      assert.match(line, /node port 31980 is held by Service node-port-a\/kafka/, 'port and holder named');
      assert.match(line, /kafka-nodeport-injector\/node-port/, 'the annotation that picks another port');
      // Helm creates Services first, then goes on to the StatefulSets after the failure.
      const refused = webhook
        .since(from)
        .filter((a) => a.namespace === clash && a.decision === 'denied')
        .map((a) => `${a.kind} ${a.name} ${a.reason}`);
      assert.deepEqual(
        refused,
        ['Service kafka node-port-taken', 'StatefulSet kafka node-port-taken'],
        'its client Service (the first object to claim the port) and its StatefulSet are refused',
      );
      const mutated = webhook.since(from).filter((a) => a.namespace === clash && a.decision === 'mutated');
      assert.deepEqual(mutated, [], 'no object of the refused release was admitted mutated');
      for (const kind of [
        ['apps/v1', 'StatefulSet'],
        ['v1', 'Service'],
      ] as const) {
        const stored = await listObjects(cluster, kind[0], kind[1], clash);
        assert.deepEqual(
          stored.filter((o) => statusAnnotation(o) !== undefined).map((o) => o.metadata?.name),
          [],
          `no ${kind[1]} of the refused release is stored mutated`,
        );
      }
    },
  );
  for (const ns of [...releases.map((r) => r.ns), clash]) {
    await uninstall(cluster, ns).catch(() => undefined);
    void deleteNamespace(cluster, ns);
  }
}

/** test/e2e/self-managed-certs.ts (another suite, its own cluster): its counts join ours. */
/** The node-address ConfigMap in `ns`, once it holds `want` (the webhook writes it asynchronously). */
async function nodeAddressMap(
  cluster: Cluster,
  ns: string,
  want: (data: Record<string, string>) => boolean,
  timeoutMs = 20_000,
): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, string> | undefined;
  for (;;) {
    const cm = await getObject<KubeObj & { data?: Record<string, string> }>(
      cluster,
      'v1',
      'ConfigMap',
      ns,
      NODE_ADDRESS_MAP,
    );
    last = cm?.data ?? (cm ? {} : undefined);
    if (last && want(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(
        `ConfigMap ${ns}/${NODE_ADDRESS_MAP} not as expected in ${timeoutMs} ms: ${JSON.stringify(last)}`,
      );
    }
    await sleep(100);
  }
}

/** The documented entry of a node: its `status.addresses`, one `Type=address` line each, in order. */
async function expectedNodeEntries(cluster: Cluster): Promise<Record<string, string>> {
  const r = await cluster.api('GET', '/api/v1/nodes');
  const nodes = ((r.json as { items?: unknown[] }).items ?? []) as (KubeObj & {
    status?: { addresses?: { type: string; address: string }[] };
  })[];
  return Object.fromEntries(
    nodes
      .map((n): [string, string] => [
        n.metadata?.name ?? '',
        (n.status?.addresses ?? []).map((a) => `${a.type}=${a.address}\n`).join(''),
      ])
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

/**
 * SPEC §2 address-type / advertised-hosts on a real control plane: the webhook keeps the
 * node-address ConfigMap in opted-in namespaces (content from the Nodes, updated when a node comes
 * and goes), and brokers installed with Helm advertise their node's ExternalIP (kafka-c has none:
 * its Hostname) or their override, judged by running their stored spec against the stored map.
 */
async function addressTypeSteps(cluster: Cluster, webhook: WebhookProcess): Promise<void> {
  const external = { ...EXTERNAL_IPS };
  const cases: {
    chart: ChartCase | undefined;
    annotations: Record<string, string>;
    host: (pod: BrokerPod) => string;
  }[] = [
    {
      chart: VARIANTS.find((c) => c.dir === 'bitnami-kafka-12.9.5' && c.variant === 'seed-outside'),
      annotations: { [`${ANNOTATION_PREFIX}address-type`]: 'ExternalIP' },
      host: (pod) => external[pod.nodeName] ?? pod.nodeName,
    },
    {
      chart: CHARTS.find((c) => c.dir === 'bitnami-kafka-32.4.4' && c.variant === undefined),
      annotations: {
        [`${ANNOTATION_PREFIX}address-type`]: 'ExternalIP',
        [`${ANNOTATION_PREFIX}advertised-hosts`]: '1=kafka-1.example.com',
      },
      host: (pod) => (pod.ordinal === 1 ? 'kafka-1.example.com' : (external[pod.nodeName] ?? pod.nodeName)),
    },
  ];
  for (const { chart, annotations, host } of cases) {
    if (!chart) throw new Error('address-type chart case missing');
    const name = `${caseName(chart)} with ${Object.entries(annotations)
      .map(([k, v]) => `${k.slice(ANNOTATION_PREFIX.length)}=${v}`)
      .join(', ')}`;
    const ns = `addr-${slug(chart.dir)}`;
    const nsAnnotations = { [NODE_SELECTOR_ANNOTATION]: 'runapp=kafka', ...annotations };
    await check(
      `${name}: the node-address map is in the namespace; after helm install every broker advertises its node's ExternalIP (else Hostname) or its override; stored = mutate`,
      async () => {
        await createNamespace(cluster, ns, INJECT_LABEL, nsAnnotations);
        const entries = await expectedNodeEntries(cluster);
        await nodeAddressMap(cluster, ns, (data) => isDeepStrictEqual(data, entries));
        const from = webhook.audit.length;
        helmOk((await installChart(cluster, chart, ns)).result, 'helm install');
        const pods = await waitForBrokerPods(cluster, ns, chart.brokers);
        assertPlacement(pods, LABELLED);
        const { objects, text } = await releaseManifest(cluster, ns);
        const exposure = await assertExposed(cluster, ns, pods, objects, chart.clientService, {
          ...EXPECT,
          advertisedHost: host,
        });
        for (const line of exposure.endpoints) say(`  ${line}`);
        // The live explain says the same, from the stored objects and the map.
        const explainRun = await run(
          process.execPath,
          [CLI, 'explain', '--kubeconfig', cluster.kubeconfigPath, '-n', ns, '-o', 'json'],
          { cwd: REPO_ROOT },
        );
        if (explainRun.code !== 0) throw new Error(`explain exited ${explainRun.code}: ${explainRun.stderr}`);
        const live = JSON.parse(explainRun.stdout) as {
          called: boolean;
          objects: { kind: string; brokers?: { pod: string; advertised?: string }[]; bootstrap?: string[] }[];
        };
        assert.equal(live.called, true, 'explain: the namespace opted in');
        const explained = live.objects.flatMap((o) => o.brokers ?? []);
        for (const pod of pods) {
          const advertised = explained.find((b) => b.pod === pod.name)?.advertised ?? '';
          assert.ok(
            advertised.endsWith(`://${host(pod)}:${String(DEFAULT_NODE_PORT)}`),
            `explain: ${pod.name} advertises ${host(pod)}:${String(DEFAULT_NODE_PORT)} (said ${advertised})`,
          );
        }
        for (const b of chart.brokers) {
          const sts = await getStatefulSet(cluster, ns, b.name);
          const status = JSON.parse(sts.metadata?.annotations?.[STATUS_ANNOTATION] ?? '{}') as {
            addressType?: string;
          };
          assert.equal(
            status.addressType,
            'ExternalIP',
            `${b.name}: the status annotation records the address type`,
          );
        }
        assertNoErrorOrDenial(webhook.since(from), ns);
        await assertStoredAsMutate(cluster, ns, text, nsAnnotations);
      },
    );
    await uninstall(cluster, ns).catch(() => undefined);
  }

  const ns = `addr-${slug(cases[0]?.chart?.dir ?? 'x')}`;
  await check(
    'a node that joins is in every opted-in map within seconds; a node that leaves is dropped',
    async () => {
      await cluster.addNodes([{ name: 'kafka-e', internalIP: '203.0.113.15', externalIP: '198.51.100.15' }]);
      const joined = await nodeAddressMap(cluster, ns, (data) => data['kafka-e'] !== undefined);
      assert.equal(
        joined['kafka-e'],
        'InternalIP=203.0.113.15\nExternalIP=198.51.100.15\nHostname=kafka-e\n',
      );
      await cluster.kubectlOk(['delete', 'node', 'kafka-e', '--wait=true']);
      await nodeAddressMap(cluster, ns, (data) => data['kafka-e'] === undefined);
      const plain = 'addr-not-opted-in';
      await createNamespace(cluster, plain, {}, {});
      const stray = await getObject(cluster, 'v1', 'ConfigMap', plain, NODE_ADDRESS_MAP);
      assert.equal(stray, undefined, 'a namespace that did not opt in gets no map');
      void deleteNamespace(cluster, plain);
    },
  );
  for (const c of cases) void deleteNamespace(cluster, `addr-${slug(c.chart?.dir ?? 'x')}`);
}

async function selfManagedCertsStep(binDir: string): Promise<void> {
  const script = path.join(REPO_ROOT, 'test/e2e/self-managed-certs.ts');
  if (!existsSync(script)) {
    say('test/e2e/self-managed-certs.ts not present: skipped');
    return;
  }
  say('running test/e2e/self-managed-certs.ts');
  const lines: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KNI_E2E_BIN_DIR: binDir, KNI_SKIP_BUILD: '1' },
    });
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        console.log(`  [self-managed-certs] ${l}`);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      process.stderr.write(chunk);
    });
    child.on('close', (c) => {
      if (partial) lines.push(partial);
      resolve(c);
    });
  });
  const summary = lines.map((l) => /^(\d+) passed, (\d+) failed$/.exec(l.trim())).findLast((m) => m !== null);
  if (summary) {
    passed += Number(summary[1]);
    failed += Number(summary[2]);
    if (Number(summary[2]) > 0) failures.push('self-managed-certs.ts (see its lines above)');
  }
  if (code !== 0 && (!summary || Number(summary[2]) === 0))
    notRun('self-managed-certs.ts', `exited ${String(code)}`);
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  checkCorpus();
  if (await ensureBuilt()) say('built dist/ (tsc -p tsconfig.build.json)');
  const only = process.env['KNI_E2E_ONLY'];
  const charts = only ? CHARTS.filter((c) => caseName(c).includes(only)) : CHARTS;
  const variants = only ? VARIANTS.filter((c) => caseName(c).includes(only)) : VARIANTS;
  const incoming = only ? INCOMING.filter((c) => caseName(c).includes(only)) : INCOMING;
  const helm4Cases = only ? HELM4_CASES.filter((c) => caseName(c).includes(only)) : HELM4_CASES;

  const cluster = await startCluster({ nodes: NODES });
  let webhook: WebhookProcess | undefined;
  try {
    say(`cluster up: ${cluster.server}`);
    const { webhook: wh, caPem, kubeconfig: webhookKubeconfig } = await startWebhook(cluster);
    webhook = wh;
    diagnose = async () =>
      [
        'last audit records:',
        ...wh.audit
          .slice(-8)
          .map(
            (a) =>
              `${a.operation} ${a.kind} ${a.namespace}/${a.name}: ${a.decision} ${a.reason} ${a.patchPaths.join(',')}`,
          ),
        `webhook log:\n${wh.logTail(10)}`,
        `kube-apiserver log:\n${await cluster.logTail('kube-apiserver', 6)}`,
      ].join('\n');
    say(`webhook serving ${wh.url}`);
    const registered = await check(
      'the shipped MutatingWebhookConfiguration (clientConfig replaced) is registered and called',
      () => registerWebhook(cluster, wh, caPem),
    );
    if (!registered) throw new Error('webhook not reachable: nothing else can run');
    await kubeClientSteps(cluster, check);
    await leastPrivilegeSteps(cluster, check, webhookKubeconfig);
    await ungrantedNamespaceStep(cluster, wh);
    const overallBefore = await cluster.webhookAdmissionMetrics();
    const auditFrom = wh.audit.length;

    for (const c of charts) await chartSteps(cluster, wh, c, true);
    for (const c of variants) await chartSteps(cluster, wh, c, false);
    for (const c of incoming) await chartSteps(cluster, wh, c, true);
    for (const c of helm4Cases) await chartSteps(cluster, wh, c, false);
    await postRendererStep(cluster);
    await helm4PluginStep(cluster);
    await serviceFollowsStatefulSetStep(cluster, wh);
    await kubectlApplySteps(cluster, wh);
    await valueVariantSteps(cluster, wh, only);
    await dryRunStep(cluster, wh);
    await nodePortSteps(cluster, wh);
    await addressTypeSteps(cluster, wh);
    await webhookDownStep(cluster, wh);

    await check('the webhook wrote nothing but audit lines on stdout', () => {
      assert.deepEqual(wh.strayStdout, []);
      return Promise.resolve();
    });
    printFigures(
      combined(diffWebhookLatency(overallBefore, await cluster.webhookAdmissionMetrics())),
      wh.since(auditFrom),
    );
  } finally {
    await webhook?.stop();
    await cluster.stop();
  }
  if (only) say('KNI_E2E_ONLY set: test/e2e/self-managed-certs.ts not run');
  else await selfManagedCertsStep(cluster.binDir);
}

try {
  await main();
} catch (err) {
  failed += 1;
  console.log(`not ok - e2e run aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}
if (failures.length > 0) console.log(`\nfailed:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
console.log(`total ${secs(Date.now() - t0)}s`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
