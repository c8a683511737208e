/**
 * The release a Kafka object belongs to, as the webhook decides it (admissionHandler.ts asks only
 * for a Kafka Service it would change, or a Kafka StatefulSet whose broker runs a script from a
 * ConfigMap):
 *
 * - an object Helm created (`meta.helm.sh/release-name`): the current revision of its release
 *   record (releaseRecords.ts: watch-fed, checked by one narrow read) — the whole release, the
 *   same for every replica, whatever order the objects arrive in;
 * - otherwise (`kubectl apply`, or a Helm dry run that stores no record): the namespace's
 *   StatefulSets, Services and ConfigMaps as the API server holds them — a partial view, read live
 *   and namespaced: its cost grows with the namespace, not the cluster, and a copy fed by a watch
 *   could miss a StatefulSet applied a moment before its Service (a different answer by timing).
 *
 * Both reads go through the namespaced grant opting in creates (release-reader.yaml). Without it
 * the object is decided as without Helm, from what could be read, and `unread` says what to run.
 * A record that exists but cannot be read otherwise makes the lookup throw `ReleaseUnavailable`:
 * guessing would risk opening a Service in front of brokers that do not advertise it.
 */
import type { ReleaseView } from '../core/release.ts';
import { mutateObject } from '../core/mutateObject.ts';
import { serviceContext } from '../core/release.ts';
import { helmReleaseOf, warmDecoder } from './helmReleaseRecord.ts';
import { statusOf, type KubeClient, type KubeConnection } from './kubeClient.ts';
import type { Log } from './log.ts';
import { kubeNodePortServices, type NodePortServices } from './nodePortServices.ts';
import { kubeReleaseRecords, RecordsForbidden, type ReleaseRecords } from './releaseRecords.ts';

/** A release as found, and what of it could not be read for want of the namespace's grant. */
export interface FoundRelease extends ReleaseView {
  /** E.g. `Helm release records`: the namespace has not granted the webhook that read. */
  unread?: string[];
}

export type ReleaseLookup = (namespace: string, object: unknown) => Promise<FoundRelease>;

/** The release record exists but could not be read: the Service must not be decided blind. */
export class ReleaseUnavailable extends Error {}

/** The namespace's objects a partial view is made of (live, namespaced). */
export interface NamespaceLists {
  statefulSets(namespace: string): Promise<unknown[]>;
  services(namespace: string): Promise<unknown[]>;
  configMaps(namespace: string): Promise<unknown[]>;
}

/** Well inside the API server's wait for the webhook (the configuration's timeoutSeconds). */
const LOOKUP_TIMEOUT_MS = 2000;

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

/** A release's objects from its Helm record, or from the namespace (see the file comment). */
export function releaseLookup(
  records: Pick<ReleaseRecords, 'current'>,
  lists: () => Promise<NamespaceLists>,
  log: Log,
  timeoutMs = LOOKUP_TIMEOUT_MS,
): ReleaseLookup {
  const fromCluster = async (namespace: string, unread: string[]): Promise<FoundRelease> => {
    const objects: unknown[] = [];
    const missing = [...unread];
    try {
      const api = await lists();
      const kinds = ['StatefulSets', 'Services', 'ConfigMaps'] as const;
      const listed = await Promise.allSettled(
        [api.statefulSets(namespace), api.services(namespace), api.configMaps(namespace)].map((list) =>
          withTimeout(list, timeoutMs),
        ),
      );
      listed.forEach((answer, i) => {
        const kind = kinds[i] ?? '';
        if (answer.status === 'fulfilled') objects.push(...answer.value);
        else if (statusOf(answer.reason) === 403) missing.push(kind);
        else log.warn(`${kind} of ${namespace} not listed, deciding without them: ${message(answer.reason)}`);
      });
    } catch (error) {
      log.warn(`objects of ${namespace} not listed, deciding without them: ${message(error)}`);
    }
    return { objects, complete: false, ...(missing.length > 0 ? { unread: missing } : {}) };
  };

  return async (namespace, object) => {
    const release = helmReleaseOf(object, namespace);
    if (release === undefined) return fromCluster(namespace, []);
    let objects: unknown[] | undefined;
    try {
      objects = await withTimeout(records.current(namespace, release), timeoutMs);
    } catch (error) {
      if (error instanceof RecordsForbidden) return fromCluster(namespace, ['Helm release records']);
      throw new ReleaseUnavailable(
        `helm release record of ${namespace}/${release} not readable: ${message(error)}`,
      );
    }
    // No record: a Helm dry run, or a record deleted by hand. The cluster is all there is.
    if (objects === undefined) return fromCluster(namespace, []);
    return { objects, complete: true };
  };
}

/** What the webhook reads of the cluster when it admits a Kafka object. */
export interface ClusterView {
  release: ReleaseLookup;
  /** The Services that hold node ports, cluster-wide (a claim is checked against them). */
  nodePorts: Pick<NodePortServices, 'ready' | 'holders'>;
}

/** The namespace's lists against a real API server. */
function kubeLists(kube: KubeClient): NamespaceLists {
  // List items carry no kind; the core recognises objects by it.
  const ofKind = async (path: string, apiVersion: string, kind: string): Promise<unknown[]> =>
    (await kube.list(path)).map((item) => Object.assign({}, item, { apiVersion, kind }));
  const ns = (namespace: string): string => `/namespaces/${encodeURIComponent(namespace)}`;
  return {
    statefulSets: (namespace) =>
      ofKind(`/apis/apps/v1${ns(namespace)}/statefulsets`, 'apps/v1', 'StatefulSet'),
    services: (namespace) => ofKind(`/api/v1${ns(namespace)}/services`, 'v1', 'Service'),
    configMaps: (namespace) => ofKind(`/api/v1${ns(namespace)}/configmaps`, 'v1', 'ConfigMap'),
  };
}

export interface RunningClusterView extends ClusterView {
  records: ReleaseRecords;
  stop(): Promise<void>;
}

/**
 * Runs the decision path of a Service once its release is read — the record's parser, the core on
 * the release's objects — on a sample until it is compiled: cold, the first admission of the first
 * install would pay ~50 ms for code the next ones find ready.
 */
async function warmUp(): Promise<void> {
  const objects = await warmDecoder();
  const options = { defaults: {}, namespaceAnnotations: {} };
  for (let i = 0; i < 20; i += 1) {
    for (const object of objects) {
      mutateObject({ object, defaults: {} });
      serviceContext(object, { objects, complete: true }, options);
    }
  }
}

/** The caches and lookups against a real API server; stop() ends their watches. */
export function kubeClusterView(kube: KubeConnection, log: Log): RunningClusterView {
  warmUp().catch((error: unknown) => {
    log.warn(`warm-up failed (the first admissions are slower): ${message(error)}`);
  });
  const records = kubeReleaseRecords(kube, log);
  const nodePorts = kubeNodePortServices(kube, log);
  return {
    release: releaseLookup(records, async () => kubeLists(await kube.client()), log),
    nodePorts,
    records,
    async stop() {
      await Promise.all([records.stop(), nodePorts.stop()]);
    },
  };
}
