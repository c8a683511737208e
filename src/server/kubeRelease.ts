/**
 * The release a client Service belongs to, read from the API server when the Service is admitted
 * (admissionHandler.ts asks only for a Kafka Service it would change, or a Kafka StatefulSet whose
 * broker runs a script from a ConfigMap, so the call is rare):
 *
 * - an object Helm created (`meta.helm.sh/release-name`): the manifest of the release record Helm
 *   wrote before creating anything — the whole release, the same for every replica, whatever
 *   order the objects arrive in;
 * - otherwise (`kubectl apply`, or a Helm dry run that stores no record): the namespace's
 *   StatefulSets, Services and ConfigMaps as the cluster has them — a partial view.
 *
 * Live lists, not a cluster-wide watch: holding every StatefulSet, Service and release record of a
 * large cluster in memory to serve an occasional Service is a poor trade.
 *
 * Needs RBAC `list` on `statefulsets.apps`, `services`, `configmaps` and `secrets` (the release records; their
 * content is decoded in memory, never logged or kept). A release record that cannot be read makes
 * the lookup throw `ReleaseUnavailable`: guessing would risk opening a Service in front of brokers
 * that do not advertise it. A failing live list gives an empty partial view.
 */
import type { ReleaseView } from '../core/release.ts';
import {
  currentRecord,
  decodeReleaseManifest,
  helmReleaseOf,
  releaseRecordSelector,
  type ReleaseRecordItem,
} from './helmReleaseRecord.ts';
import type { KubeClient, KubeConnection } from './kubeClient.ts';
import type { Log } from './log.ts';

export type ReleaseLookup = (namespace: string, object: unknown) => Promise<ReleaseView>;

/** The release record exists but could not be read: the Service must not be decided blind. */
export class ReleaseUnavailable extends Error {}

interface Lists {
  statefulSets(namespace: string): Promise<unknown[]>;
  services(namespace: string): Promise<unknown[]>;
  configMaps(namespace: string): Promise<unknown[]>;
  allServices(): Promise<unknown[]>;
  releaseRecords(namespace: string, release: string): Promise<ReleaseRecordItem[]>;
}

interface Secret {
  metadata?: { name?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

const PARTIAL_NONE: ReleaseView = { objects: [], complete: false };

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer in ${String(timeoutMs)} ms`));
    }, timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A release's objects from its Helm record, or from the cluster (see the file comment). */
export function releaseLookup(lists: () => Promise<Lists>, log: Log, timeoutMs = 2000): ReleaseLookup {
  const fromCluster = async (namespace: string): Promise<ReleaseView> => {
    try {
      const api = await lists();
      const [statefulSets, services, configMaps] = await withTimeout(
        Promise.all([api.statefulSets(namespace), api.services(namespace), api.configMaps(namespace)]),
        timeoutMs,
      );
      return { objects: [...statefulSets, ...services, ...configMaps], complete: false };
    } catch (error) {
      log.warn(
        `release objects of ${namespace} not listed, deciding the Service without them: ${message(error)}`,
      );
      return PARTIAL_NONE;
    }
  };

  return async (namespace, object) => {
    const release = helmReleaseOf(object, namespace);
    if (release === undefined) return fromCluster(namespace);
    let manifest: string | undefined;
    try {
      const api = await lists();
      const record = currentRecord(await withTimeout(api.releaseRecords(namespace, release), timeoutMs));
      manifest = record && decodeReleaseManifest(record);
    } catch (error) {
      throw new ReleaseUnavailable(
        `helm release record of ${namespace}/${release} not readable: ${message(error)}`,
      );
    }
    // No record: a Helm dry run, or a record deleted by hand. The cluster is all there is.
    if (manifest === undefined) return fromCluster(namespace);
    // yaml is loaded on the first release record read, not at start-up (most pods never need it).
    const { parseAllDocuments } = await import('yaml');
    const objects = parseAllDocuments(manifest, { version: '1.1' }).map((doc) => doc.toJS() as unknown);
    return { objects, complete: true };
  };
}

/** What the webhook reads of the cluster when it admits a Kafka object. */
export interface ClusterView {
  release: ReleaseLookup;
  /** Every Service of the cluster (node ports are cluster-wide). Throws on failure or timeout. */
  allServices: () => Promise<unknown[]>;
}

/** The lists against a real API server. */
function kubeLists(kube: KubeClient): Lists {
  // List items carry no kind; the core recognises objects by it.
  const ofKind = async (path: string, apiVersion: string, kind: string): Promise<unknown[]> =>
    (await kube.list(path)).map((item) => Object.assign({}, item, { apiVersion, kind }));
  const ns = (namespace: string): string => `/namespaces/${encodeURIComponent(namespace)}`;
  return {
    statefulSets: (namespace) =>
      ofKind(`/apis/apps/v1${ns(namespace)}/statefulsets`, 'apps/v1', 'StatefulSet'),
    services: (namespace) => ofKind(`/api/v1${ns(namespace)}/services`, 'v1', 'Service'),
    configMaps: (namespace) => ofKind(`/api/v1${ns(namespace)}/configmaps`, 'v1', 'ConfigMap'),
    allServices: () => kube.list('/api/v1/services'),
    releaseRecords: async (namespace, release) => {
      const secrets = await kube.list<Secret>(`/api/v1${ns(namespace)}/secrets`, {
        labelSelector: releaseRecordSelector(release),
        fieldSelector: 'type=helm.sh/release.v1',
      });
      return secrets.map((secret) => ({
        name: secret.metadata?.name ?? '',
        labels: secret.metadata?.labels ?? {},
        ...(secret.data?.['release'] === undefined ? {} : { release: secret.data['release'] }),
      }));
    },
  };
}

/** The lookups against a real API server (a failed connection is tried again at the next admission). */
export function kubeClusterView(kube: KubeConnection, log: Log, timeoutMs = 2000): ClusterView {
  const lists = async (): Promise<Lists> => kubeLists(await kube.client());
  return {
    release: releaseLookup(lists, log, timeoutMs),
    allServices: async () => {
      try {
        return await withTimeout((await lists()).allServices(), timeoutMs);
      } catch (error) {
        log.warn(`Services not listed, node port claims not checked: ${message(error)}`);
        throw error;
      }
    },
  };
}
