/**
 * The webhook registered on a real control plane, the way both the end-to-end run and the
 * real-Kafka proof need it: the shipped MutatingWebhookConfiguration with only `clientConfig`
 * pointed at a `serve` process, and namespaces that opt in.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { freePorts, type Cluster } from './cluster.ts';
import { containmentDiffs } from './storedObjects.ts';
import { REPO_ROOT, WebhookProcess } from './webhookProcess.ts';

export const MWC_FILE = path.join(REPO_ROOT, 'manifests/base/mutatingwebhookconfiguration.yaml');
export const INJECT_LABEL = { 'kafka-nodeport-injector/inject': 'enabled' };
export const NODE_SELECTOR_ANNOTATION = 'kafka-nodeport-injector/node-selector';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function createNamespace(
  cluster: Cluster,
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string>,
): Promise<void> {
  const r = await cluster.api('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels, annotations },
  });
  if (r.status !== 201) throw new Error(`create namespace ${name}: HTTP ${r.status}: ${r.text}`);
}

/** A `serve` process with a serving certificate from the cluster CA (IP SAN 127.0.0.1). */
export async function startWebhook(cluster: Cluster): Promise<{ webhook: WebhookProcess; caPem: string }> {
  const cert = await cluster.issueCert({ name: 'webhook', commonName: '127.0.0.1', ipSANs: ['127.0.0.1'] });
  const [port = 0, metricsPort = 0] = await freePorts(2);
  const webhook = new WebhookProcess({
    port,
    metricsPort,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
    caPem: cert.caPem,
    kubeconfig: cluster.kubeconfigPath,
  });
  await webhook.start();
  return { webhook, caPem: cert.caPem };
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
