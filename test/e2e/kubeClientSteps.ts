/**
 * The webhook's own Kubernetes client (src/server/kubeClient.ts, kubeCredentials.ts,
 * kubeInformer.ts) against the real API server: the kubeconfig forms the e2e cluster uses
 * (client certificate files, an inline CA with a bearer token), the API server's errors as typed
 * errors, list+watch across pages.
 *
 * Not here: the informer's relist after 410 Gone. A fresh API server's watch cache holds every
 * event since it started, so even resourceVersion 1 after an etcd compaction is replayed, not
 * refused (tried); the path is the one client-go's reflector takes and is kept small.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KubeApiError, connectKube, statusOf } from '../../src/server/kubeClient.ts';
import { startInformer } from '../../src/server/kubeInformer.ts';
import type { Log } from '../../src/server/log.ts';
import type { Cluster } from './cluster.ts';

type Check = (name: string, fn: () => Promise<void>) => Promise<boolean>;

const quietLog: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function until(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function kubeClientSteps(cluster: Cluster, check: Check): Promise<void> {
  const admin = await connectKube({ kind: 'file', path: cluster.kubeconfigPath });

  await check(
    'kube client: the admin kubeconfig (client certificate files) reads and maps errors',
    async () => {
      const ns = await admin.get<{ metadata?: { name?: string } }>('/api/v1/namespaces/default');
      assert.equal(ns.metadata?.name, 'default');
      await assert.rejects(admin.get('/api/v1/namespaces/kni-client-no-such'), (error: unknown) => {
        assert.ok(error instanceof KubeApiError);
        assert.equal(error.status, 404);
        assert.equal(error.reason, 'NotFound');
        assert.match(error.message, /namespaces "kni-client-no-such" not found/);
        return true;
      });
      assert.equal(admin.defaultNamespace, 'default');
    },
  );

  await check(
    'kube client: an inline CA and a bearer token (a service account), or that token from an exec plugin, authenticate as it',
    async () => {
      await cluster.kubectlOk(['create', 'serviceaccount', 'kni-client-probe', '-n', 'default']);
      const token = (
        await cluster.kubectlOk(['create', 'token', 'kni-client-probe', '-n', 'default'])
      ).trim();
      const file = path.join(cluster.dir, 'kni-client-probe.kubeconfig');
      const ca = Buffer.from(await readFile(cluster.caFile)).toString('base64');
      // YAML, as kubectl writes it.
      await writeFile(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'current-context: probe',
          'clusters:',
          `- name: c\n  cluster:\n    server: ${cluster.server}\n    certificate-authority-data: ${ca}`,
          'users:',
          `- name: probe\n  user:\n    token: ${token}`,
          'contexts:',
          '- name: probe\n  context:\n    cluster: c\n    user: probe\n    namespace: default',
          '',
        ].join('\n'),
      );
      const probe = await connectKube({ kind: 'file', path: file });
      // No RBAC for it: the 403 names the service account, so the token was what authenticated.
      const error: unknown = await probe.get('/api/v1/nodes').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(statusOf(error), 403);
      assert.match(String(error), /system:serviceaccount:default:kni-client-probe/);

      // The same token from an exec credential plugin: handed to client-node, same identity.
      const plugin = path.join(cluster.dir, 'kni-client-probe-credential.sh');
      const credential = JSON.stringify({
        apiVersion: 'client.authentication.k8s.io/v1',
        kind: 'ExecCredential',
        status: { token },
      });
      await writeFile(plugin, `#!/bin/sh\nprintf '%s' '${credential}'\n`, { mode: 0o755 });
      const execFile = path.join(cluster.dir, 'kni-client-probe-exec.kubeconfig');
      await writeFile(
        execFile,
        (await readFile(file, 'utf8')).replace(
          `    token: ${token}`,
          `    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ${plugin}\n      interactiveMode: Never`,
        ),
      );
      const viaPlugin = await connectKube({ kind: 'file', path: execFile });
      assert.match(viaPlugin.description, /exec plugin/);
      const pluginError: unknown = await viaPlugin.get('/api/v1/nodes').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(statusOf(pluginError), 403);
      assert.match(String(pluginError), /system:serviceaccount:default:kni-client-probe/);
    },
  );

  await check('kube client: list+watch delivers listed pages, changes, deletions, then stops', async () => {
    const label = 'kni-client-informer=yes';
    const names = ['kni-inf-a', 'kni-inf-b', 'kni-inf-c'];
    for (const name of names) await cluster.kubectlOk(['create', 'namespace', name]);
    for (const name of names) await cluster.kubectlOk(['label', 'namespace', name, label]);
    const seen = new Map<string, Record<string, string> | undefined>();
    let syncs = 0;
    const informer = startInformer<{ metadata?: { name?: string; annotations?: Record<string, string> } }>(
      admin,
      // Pages of two: the three namespaces take two requests.
      { what: 'test namespace', path: '/api/v1/namespaces', query: { labelSelector: label }, pageSize: 2 },
      {
        upsert: (ns) => seen.set(ns.metadata?.name ?? '', ns.metadata?.annotations),
        remove: (name) => seen.delete(name),
        synced: () => (syncs += 1),
      },
      quietLog,
    );
    try {
      await until('the first listing', () => syncs === 1);
      assert.deepEqual([...seen.keys()].sort(), names);
      await cluster.kubectlOk([
        'annotate',
        'namespace',
        'kni-inf-a',
        'kafka-nodeport-injector/node-port=31990',
      ]);
      await until(
        'the annotation',
        () => seen.get('kni-inf-a')?.['kafka-nodeport-injector/node-port'] === '31990',
      );
      await cluster.kubectlOk(['label', 'namespace', 'kni-inf-b', 'kni-client-informer-']);
      // Leaving the label selector is a DELETED event for the watch.
      await until('the namespace that left the selector', () => !seen.has('kni-inf-b'));
      assert.equal(syncs, 1, 'no second listing: the watch kept up');
    } finally {
      await informer.stop();
      for (const name of names) await cluster.kubectl(['delete', 'namespace', name, '--wait=false']);
    }
  });
}
