/**
 * The webhook registered on a real control plane, the way both the end-to-end run and the
 * real-Kafka proof need it: the shipped MutatingWebhookConfiguration with only `clientConfig`
 * pointed at a `serve` process that runs as the manifests' ServiceAccount with the shipped RBAC,
 * and namespaces that opt in as the README says (the label, and the RoleBinding that grants the
 * webhook its reads there).
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { DEFAULT_WEBHOOK_IDENTITY, grantCommand } from '../../src/core/optInGrant.ts';
import { freePorts, type Cluster } from './cluster.ts';
import { containmentDiffs } from './storedObjects.ts';
import { REPO_ROOT, WebhookProcess } from './webhookProcess.ts';

export const MWC_FILE = path.join(REPO_ROOT, 'manifests/base/mutatingwebhookconfiguration.yaml');
const INJECT_KEY = 'kafka-nodeport-injector/inject';
export const INJECT_LABEL = { [INJECT_KEY]: 'enabled' };
export const NODE_SELECTOR_ANNOTATION = 'kafka-nodeport-injector/node-selector';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `system:serviceaccount:…` of the manifests' ServiceAccount (kubectl's `--as`). */
export const WEBHOOK_USER = `system:serviceaccount:${DEFAULT_WEBHOOK_IDENTITY.namespace}:${DEFAULT_WEBHOOK_IDENTITY.serviceAccount}`;

/** The command the webhook tells a namespace to run (optInGrant.ts), run as it is written. */
export async function grantReads(cluster: Cluster, namespace: string): Promise<void> {
  const [kubectl, ...args] = grantCommand(namespace).split(' ');
  assert.equal(kubectl, 'kubectl');
  await cluster.kubectlOk(args);
}

/**
 * A namespace; one labelled to opt in gets the grant too (`grant: false` leaves it out, as a user
 * who only set the label).
 */
export async function createNamespace(
  cluster: Cluster,
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string>,
  { grant = true }: { grant?: boolean } = {},
): Promise<void> {
  // As the README opts in: the grant first, then the label, so the webhook's watch of the
  // namespace's release records starts with the grant in place.
  const optIn = grant && labels[INJECT_KEY] === 'enabled';
  const r = await cluster.api('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: optIn ? Object.fromEntries(Object.entries(labels).filter(([k]) => k !== INJECT_KEY)) : labels,
      annotations,
    },
  });
  if (r.status !== 201) throw new Error(`create namespace ${name}: HTTP ${r.status}: ${r.text}`);
  if (!optIn) return;
  await grantReads(cluster, name);
  await cluster.kubectlOk(['label', 'namespace', name, `${INJECT_KEY}=enabled`]);
}

/**
 * The manifests' namespace, ServiceAccount, cluster-wide RBAC and the (unbound) release-reader
 * role, from the shipped files; and a kubeconfig with a bound token of that ServiceAccount.
 */
async function webhookIdentity(cluster: Cluster): Promise<string> {
  const base = path.join(REPO_ROOT, 'manifests/base');
  const { namespace, serviceAccount } = DEFAULT_WEBHOOK_IDENTITY;
  const docs: Record<string, unknown>[] = [];
  for (const file of ['namespace.yaml', 'serviceaccount.yaml', 'rbac.yaml', 'release-reader.yaml']) {
    for (const doc of parseAllDocuments(await readFile(path.join(base, file), 'utf8'))) {
      const object = doc.toJS() as Record<string, unknown>;
      const meta = object['metadata'] as Record<string, unknown>;
      // kustomize's `namespace:` does this for namespaced objects.
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(String(object['kind'])))
        meta['namespace'] = namespace;
      docs.push(object);
    }
  }
  await cluster.apply(docs.map((d) => stringify(d)).join('---\n'));
  const token = (
    await cluster.kubectlOk(['create', 'token', serviceAccount, '-n', namespace, '--duration=4h'])
  ).trim();
  const file = path.join(cluster.dir, 'webhook-sa.kubeconfig');
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'e2e', cluster: { server: cluster.server, 'certificate-authority': cluster.caFile } },
      ],
      users: [{ name: 'webhook', user: { token } }],
      contexts: [{ name: 'webhook', context: { cluster: 'e2e', user: 'webhook', namespace } }],
      'current-context': 'webhook',
    }),
  );
  return file;
}

/**
 * A `serve` process with a serving certificate from the cluster CA (IP SAN 127.0.0.1), as the
 * manifests' ServiceAccount.
 */
export async function startWebhook(
  cluster: Cluster,
): Promise<{ webhook: WebhookProcess; caPem: string; kubeconfig: string }> {
  const kubeconfig = await webhookIdentity(cluster);
  const cert = await cluster.issueCert({ name: 'webhook', commonName: '127.0.0.1', ipSANs: ['127.0.0.1'] });
  const [port = 0, metricsPort = 0] = await freePorts(2);
  const webhook = new WebhookProcess({
    port,
    metricsPort,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
    caPem: cert.caPem,
    kubeconfig,
  });
  await webhook.start();
  return { webhook, caPem: cert.caPem, kubeconfig };
}

/** The shipped configuration, `clientConfig` aside, stored; resolves once the API server calls us. */
export async function registerWebhook(
  cluster: Cluster,
  webhook: WebhookProcess,
  caPem: string,
): Promise<void> {
  const shipped = parse(await readFile(MWC_FILE, 'utf8')) as { webhooks: Record<string, unknown>[] };
  const config = structuredClone(shipped);
  for (const w of config.webhooks) {
    w['clientConfig'] = { url: webhook.url, caBundle: Buffer.from(caPem).toString('base64') };
  }
  const r = await cluster.api(
    'POST',
    '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
    config,
  );
  assert.equal(r.status, 201, `create MutatingWebhookConfiguration: ${r.text}`);
  // What is stored is the shipped file but for clientConfig.
  const withoutClient = structuredClone(shipped);
  for (const w of withoutClient.webhooks) delete w['clientConfig'];
  assert.deepEqual(containmentDiffs(withoutClient, r.json), [], 'stored configuration = shipped file');

  // The API server picks configurations up asynchronously: probe until it calls us.
  await createNamespace(cluster, 'e2e-probe', INJECT_LABEL, {});
  const probe = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'probe', namespace: 'e2e-probe' },
    spec: { selector: { app: 'probe' }, ports: [{ port: 80 }] },
  });
  const from = webhook.audit.length;
  for (let i = 0; ; i++) {
    assert.ok(i < 100, 'the API server never called the webhook');
    await cluster.kubectlOk(['create', '--dry-run=server', '-f', '-'], { input: probe });
    if (webhook.since(from).some((a) => a.namespace === 'e2e-probe')) break;
    await sleep(100);
  }
}
