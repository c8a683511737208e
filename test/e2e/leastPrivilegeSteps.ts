/**
 * Issue 22 against the real API server: what the shipped RBAC lets the webhook's ServiceAccount
 * read (nothing of Secrets, StatefulSets or ConfigMaps cluster-wide; its reads in a namespace only
 * once the README's RoleBinding exists), and the release-record read racing Helm: an object whose
 * record the watch has not delivered yet still gets the current revision.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { KubeConnection } from '../../src/server/kubeClient.ts';
import type { Log } from '../../src/server/log.ts';
import { kubeReleaseRecords, RecordsForbidden } from '../../src/server/releaseRecords.ts';
import type { Cluster } from './cluster.ts';
import { createNamespace, INJECT_LABEL, WEBHOOK_USER } from './webhookCluster.ts';

type Check = (name: string, fn: () => Promise<void>) => Promise<boolean>;

/** Kept, not printed: a failed check shows what the records' watches said. */
const said: string[] = [];
const quietLog: Log = {
  info: () => undefined,
  warn: (message: string) => said.push(message),
  error: (message: string) => said.push(message),
};

async function canI(cluster: Cluster, verb: string, resource: string, where: string[]): Promise<boolean> {
  const r = await cluster.kubectl(['auth', 'can-i', verb, resource, ...where, `--as=${WEBHOOK_USER}`]);
  return r.stdout.trim() === 'yes';
}

async function until(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A Helm release record as Helm 3 and 4 write it: base64 of gzipped JSON holding the manifest. */
function releaseRecord(namespace: string, release: string, version: number, status: string): unknown {
  const manifest = [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${release}-password` }, data: { p: 'cw==' } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: release }, spec: { ports: [{ port: 9092 }] } },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: `${release}-v${String(version)}` } },
  ]
    .map((doc) => `---\n${stringify(doc)}`)
    .join('');
  const helm = gzipSync(JSON.stringify({ name: release, version, manifest })).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'helm.sh/release.v1',
    metadata: {
      name: `sh.helm.release.v1.${release}.v${String(version)}`,
      namespace,
      labels: { owner: 'helm', name: release, version: String(version), status },
    },
    data: { release: Buffer.from(helm).toString('base64') },
  };
}

/** The StatefulSet names a revision holds (each revision names its own), and the kinds kept. */
function revisionOf(objects: unknown[] | undefined): { statefulSets: string[]; kinds: string[] } {
  const list = (objects ?? []) as { kind?: string; metadata?: { name?: string } }[];
  return {
    statefulSets: list.filter((o) => o.kind === 'StatefulSet').map((o) => o.metadata?.name ?? ''),
    kinds: [...new Set(list.map((o) => o.kind ?? ''))].sort(),
  };
}

/** A call, not the property: the compiler would keep the value an earlier assertion narrowed. */
const readsOf = (records: { recordReads: number }): number => records.recordReads;

export async function leastPrivilegeSteps(
  cluster: Cluster,
  check: Check,
  webhookKubeconfig: string,
): Promise<void> {
  const granted = 'lp-granted';
  const ungranted = 'lp-label-only';
  // The watch below sees every opted-in namespace; this one holds only what it is to decode.
  const watched = 'lp-watched';
  await createNamespace(cluster, granted, INJECT_LABEL, {});
  await createNamespace(cluster, watched, INJECT_LABEL, {});
  await createNamespace(cluster, ungranted, INJECT_LABEL, {}, { grant: false });

  await check('RBAC: the ServiceAccount reads no Secret, StatefulSet or ConfigMap cluster-wide', async () => {
    for (const verb of ['get', 'list', 'watch'])
      for (const resource of ['secrets', 'configmaps', 'statefulsets.apps'])
        assert.equal(await canI(cluster, verb, resource, ['-A']), false, `${verb} ${resource} -A`);
    assert.equal(
      await canI(cluster, 'list', 'secrets', ['-n', ungranted]),
      false,
      'a namespace with the label only',
    );
    // What it keeps cluster-wide, each for a reason (rbac.yaml): node ports, namespaces, nodes.
    for (const resource of ['services', 'namespaces', 'nodes'])
      assert.equal(await canI(cluster, 'watch', resource, ['-A']), true, `watch ${resource} -A`);
  });

  await check(
    "RBAC: the README's RoleBinding grants release records, StatefulSets and ConfigMaps there",
    async () => {
      for (const verb of ['get', 'list', 'watch'])
        assert.equal(await canI(cluster, verb, 'secrets', ['-n', granted]), true, `${verb} secrets`);
      assert.equal(await canI(cluster, 'list', 'statefulsets.apps', ['-n', granted]), true);
      assert.equal(await canI(cluster, 'list', 'configmaps', ['-n', granted]), true);
    },
  );

  const kube = new KubeConnection({ kind: 'file', path: webhookKubeconfig });
  const admin = await new KubeConnection({ kind: 'file', path: cluster.kubeconfigPath }).client();
  const write = async (
    namespace: string,
    release: string,
    version: number,
    status: string,
  ): Promise<void> => {
    await admin.create(
      `/api/v1/namespaces/${namespace}/secrets`,
      releaseRecord(namespace, release, version, status),
    );
    if (version > 1)
      await admin.patch(
        `/api/v1/namespaces/${namespace}/secrets/sh.helm.release.v1.${release}.v${String(version - 1)}`,
        { metadata: { labels: { status: 'superseded' } } },
        'application/merge-patch+json',
      );
  };

  await check(
    'release records: an object that arrives before its record reaches the watch gets the current revision (a watch that never delivers)',
    async () => {
      // No watch at all stands for one that is behind: every answer comes from the narrow read.
      const records = kubeReleaseRecords(kube, quietLog, { prefetch: false });
      try {
        assert.equal(await records.current(granted, 'race'), undefined, 'no record yet: no release');
        await write(granted, 'race', 1, 'pending-install');
        assert.deepEqual(revisionOf(await records.current(granted, 'race')), {
          statefulSets: ['race-v1'],
          kinds: ['Service', 'StatefulSet'],
        });
        await write(granted, 'race', 2, 'pending-upgrade');
        assert.deepEqual(revisionOf(await records.current(granted, 'race')).statefulSets, ['race-v2']);
        assert.equal(records.recordReads, 2, 'one record read per revision');
        await records.current(granted, 'race');
        assert.equal(records.recordReads, 2, 'the same revision again: from memory');
        // Helm marks the revision deployed once done: nothing of this release is pending any more.
        await admin.patch(
          `/api/v1/namespaces/${granted}/secrets/sh.helm.release.v1.race.v2`,
          { metadata: { labels: { status: 'deployed' } } },
          'application/merge-patch+json',
        );
      } finally {
        await records.stop();
      }
    },
  );

  await check(
    'release records: the watch decodes a pending revision before it is asked for, and a revision it has not seen yet is still read right',
    async () => {
      const records = kubeReleaseRecords(kube, quietLog);
      try {
        await write(watched, 'watched', 1, 'pending-install');
        await until('the watch to decode the pending revision', () => records.recordReads === 1).catch(
          (error: unknown) => {
            throw new Error(
              `${String(error)} (${String(readsOf(records))} read); the watches said: ${said.slice(-3).join(' | ')}`,
            );
          },
        );
        assert.deepEqual(revisionOf(await records.current(watched, 'watched')).statefulSets, ['watched-v1']);
        assert.equal(records.recordReads, 1, 'answered from what the watch decoded');
        // Asked at once after the write: whichever of the watch and the admission comes first.
        await write(watched, 'watched', 2, 'pending-upgrade');
        assert.deepEqual(revisionOf(await records.current(watched, 'watched')).statefulSets, ['watched-v2']);
        // The watch and the admission share one read of a revision.
        const reads = readsOf(records);
        assert.ok(reads <= 2, `one read of revision 2 at most (${String(reads)})`);
      } finally {
        await records.stop();
      }
    },
  );

  await check(
    'release records: without the RoleBinding the read is refused as such, not guessed',
    async () => {
      await write(ungranted, 'kafka', 1, 'deployed');
      const records = kubeReleaseRecords(kube, quietLog, { prefetch: false });
      try {
        await assert.rejects(records.current(ungranted, 'kafka'), RecordsForbidden);
      } finally {
        await records.stop();
      }
    },
  );
}
