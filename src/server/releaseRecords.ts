/**
 * Helm release records (helmReleaseRecord.ts) as the webhook reads them: in opted-in namespaces
 * only, through the namespaced grant opting in creates (manifests/base/release-reader.yaml), never a
 * cluster-wide read of Secrets.
 *
 * Per opted-in namespace a metadata-only list+watch of the records (names, labels, resourceVersions;
 * never the data of any Secret) sees a release's revision the moment Helm writes it, pending, and
 * decodes it in the background: by the time Helm creates the release's objects their answer is in
 * memory, trimmed to the kinds the core decides from.
 *
 * The watch may still be behind: Helm writes the record and creates the first object within
 * milliseconds. So an admission asks the API server one narrow question — the metadata of this
 * one release's records, a consistent read of a few hundred bytes — and uses the decoded revision
 * only when it is the current one; otherwise (the race, or a replica that just started) it reads
 * that one record by name. The answer never depends on how far the watch got, only its cost.
 *
 * Without the grant the API server answers 403: `RecordsForbidden`, which the lookup turns into a
 * decision without Helm and a warning that says what to run.
 */
import { INJECT_LABEL } from '../core/config.ts';
import {
  currentRecord,
  releaseObjects,
  releaseRecordSelector,
  type ReleaseRecordItem,
} from './helmReleaseRecord.ts';
import { statusOf, type KubeClient, type KubeConnection } from './kubeClient.ts';
import { startInformer, type Informer } from './kubeInformer.ts';
import type { Log } from './log.ts';

/** The API server refused to show the records: the namespace's grant is missing. */
export class RecordsForbidden extends Error {}

export interface ReleaseRecords {
  /**
   * The objects of `release`'s current revision, or undefined when it has no record (a Helm dry
   * run, or a release deleted meanwhile). Throws `RecordsForbidden`, or another error when the
   * records could not be read.
   */
  current(namespace: string, release: string): Promise<unknown[] | undefined>;
  /** Records read whole so far (the rest of the time the watch had them decoded already). */
  readonly recordReads: number;
  stop(): Promise<void>;
}

export interface ReleaseRecordsOptions {
  /**
   * Decode a pending revision as soon as the watch shows it (default). Tests turn it off to stand
   * for a watch that has not delivered yet.
   */
  prefetch?: boolean;
}

interface RecordMeta {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
  };
}

interface RecordSecret extends RecordMeta {
  data?: Record<string, string>;
}

/** One decoded revision: which record at which resourceVersion, and its objects. */
interface Decoded {
  record: string;
  resourceVersion: string;
  objects: Promise<unknown[]>;
}

const RECORD_TYPE = 'type=helm.sh/release.v1';
const PENDING = /^pending-/;

const secretsPath = (namespace: string): string =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;

const itemOf = (secret: RecordMeta): ReleaseRecordItem => ({
  name: secret.metadata?.name ?? '',
  labels: secret.metadata?.labels ?? {},
});

function forbiddenOr(error: unknown): Error {
  if (statusOf(error) === 403)
    return new RecordsForbidden(error instanceof Error ? error.message : String(error));
  return error instanceof Error ? error : new Error(String(error));
}

export function kubeReleaseRecords(
  kube: KubeConnection,
  log: Log,
  { prefetch = true }: ReleaseRecordsOptions = {},
): ReleaseRecords {
  /** `namespace/release` → the revision decoded last (one per release: older ones are never asked for). */
  const decoded = new Map<string, Decoded>();
  const watches = new Map<string, Informer>();
  /** Namespaces whose watch was refused (403): the grant is usually made just after the label. */
  const refused = new Set<string>();
  let namespaces: Informer | undefined;
  let stopped = false;
  let recordReads = 0;

  const decode = (
    client: KubeClient,
    namespace: string,
    release: string,
    record: string,
    resourceVersion: string,
  ): Decoded => {
    const key = `${namespace}/${release}`;
    const known = decoded.get(key);
    if (known?.record === record && known.resourceVersion === resourceVersion) return known;
    const entry: Decoded = {
      record,
      resourceVersion,
      objects: (async () => {
        recordReads += 1;
        const secret = await client.get<RecordSecret>(
          `${secretsPath(namespace)}/${encodeURIComponent(record)}`,
        );
        const data = secret.data?.['release'];
        return releaseObjects({ ...itemOf(secret), ...(data === undefined ? {} : { release: data }) });
      })(),
    };
    decoded.set(key, entry);
    // A failed read is not kept: the next admission reads again.
    entry.objects.catch(() => {
      if (decoded.get(key) === entry) decoded.delete(key);
    });
    return entry;
  };

  const watchNamespace = (client: KubeClient, namespace: string): Informer =>
    startInformer<RecordMeta>(
      client,
      {
        what: `Helm release records of ${namespace}`,
        path: secretsPath(namespace),
        query: { labelSelector: 'owner=helm', fieldSelector: RECORD_TYPE },
        representation: 'metadata',
      },
      {
        upsert: (meta) => {
          const { name, resourceVersion, labels } = meta.metadata ?? {};
          const release = labels?.['name'];
          // Only a revision being applied is about to be asked for; deployed ones wait for an admission.
          if (!name || !resourceVersion || !release || !PENDING.test(labels['status'] ?? '')) return;
          decode(client, namespace, release, name, resourceVersion).objects.catch(() => undefined);
        },
        remove: (key) => {
          const name = key.slice(key.indexOf('/') + 1);
          for (const [release, entry] of decoded)
            if (release.startsWith(`${namespace}/`) && entry.record === name) decoded.delete(release);
        },
        synced: () => {
          refused.delete(namespace);
        },
        failed: (error) => {
          if (statusOf(error) === 403) refused.add(namespace);
        },
      },
      log,
    );

  /** An admission could read the records where the watch was refused: the grant is there now. */
  const rewatch = (client: KubeClient, namespace: string): void => {
    const watch = watches.get(namespace);
    if (!refused.delete(namespace) || !watch) return;
    void watch.stop();
    watches.set(namespace, watchNamespace(client, namespace));
  };

  const connect = async (): Promise<void> => {
    const client = await kube.client();
    if (stopped || !prefetch) return;
    namespaces = startInformer<RecordMeta>(
      client,
      {
        what: 'opted-in namespace (release records)',
        path: '/api/v1/namespaces',
        query: { labelSelector: `${INJECT_LABEL}=enabled` },
      },
      {
        upsert: (ns) => {
          const name = ns.metadata?.name;
          if (name && !watches.has(name)) watches.set(name, watchNamespace(client, name));
        },
        remove: (name) => {
          void watches.get(name)?.stop();
          watches.delete(name);
          refused.delete(name);
          for (const key of decoded.keys()) if (key.startsWith(`${name}/`)) decoded.delete(key);
        },
        synced: () => undefined,
      },
      log,
    );
  };
  connect().catch((error: unknown) => {
    log.error(
      `release record watch could not start: ${error instanceof Error ? error.message : String(error)}`,
    );
  });

  return {
    async current(namespace, release) {
      const client = await kube.client();
      let records: RecordMeta[];
      try {
        records = await client.list<RecordMeta>(
          secretsPath(namespace),
          { labelSelector: releaseRecordSelector(release), fieldSelector: RECORD_TYPE },
          'metadata',
        );
      } catch (error) {
        throw forbiddenOr(error);
      }
      rewatch(client, namespace);
      const current = currentRecord(records.map(itemOf));
      const meta = current && records.find((r) => r.metadata?.name === current.name)?.metadata;
      if (!current || !meta?.resourceVersion) return undefined;
      try {
        return await decode(client, namespace, release, current.name, meta.resourceVersion).objects;
      } catch (error) {
        throw forbiddenOr(error);
      }
    },
    get recordReads() {
      return recordReads;
    },
    async stop() {
      stopped = true;
      await Promise.all([namespaces?.stop(), ...[...watches.values()].map((w) => w.stop())]);
    },
  };
}
