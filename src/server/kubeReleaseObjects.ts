/**
 * The StatefulSets and Services of a namespace, read live from the API server when a client Service
 * is admitted (admissionHandler.ts asks only for a Kafka Service it would change, so the call is
 * rare). A live list, not a cluster-wide watch: a webhook holding every StatefulSet and Service of a
 * large cluster in memory to serve an occasional Service is a poor trade.
 *
 * Needs RBAC `list` on `statefulsets.apps` and `services`. Failures and slow answers give empty
 * lists — the Service is then decided as without a cluster — and never hold the admission past
 * `timeoutMs`.
 */
import type { ReleaseObjects } from './admissionHandler.ts';
import { loadKubeConfig, type KubeConfigLocation } from './kubeConfig.ts';
import type { Log } from './log.ts';

const NONE: ReleaseObjects = { statefulSets: [], services: [] };

export function kubeReleaseObjects(
  location: KubeConfigLocation,
  log: Log,
  timeoutMs = 2000,
): (namespace: string) => Promise<ReleaseObjects> {
  let client: Promise<(namespace: string) => Promise<ReleaseObjects>> | undefined;
  const connect = async (): Promise<(namespace: string) => Promise<ReleaseObjects>> => {
    const { AppsV1Api, CoreV1Api } = await import('@kubernetes/client-node');
    const config = await loadKubeConfig(location);
    const apps = config.makeApiClient(AppsV1Api);
    const core = config.makeApiClient(CoreV1Api);
    // List items carry no kind; the core recognises objects by it.
    return async (namespace) => {
      const [statefulSets, services] = await Promise.all([
        apps.listNamespacedStatefulSet({ namespace }),
        core.listNamespacedService({ namespace }),
      ]);
      return {
        statefulSets: statefulSets.items.map((s) =>
          Object.assign({}, s, { apiVersion: 'apps/v1', kind: 'StatefulSet' }),
        ),
        services: services.items.map((s) => Object.assign({}, s, { apiVersion: 'v1', kind: 'Service' })),
      };
    };
  };
  return async (namespace) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      client ??= connect();
      const list = await client;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer in ${String(timeoutMs)} ms`));
        }, timeoutMs);
      });
      return await Promise.race([list(namespace), timeout]);
    } catch (error) {
      log.warn(
        `release objects of ${namespace} not listed, deciding the Service without them: ${error instanceof Error ? error.message : String(error)}`,
      );
      return NONE;
    } finally {
      clearTimeout(timer);
    }
  };
}
