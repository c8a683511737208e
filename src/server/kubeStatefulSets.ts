/**
 * The StatefulSets of a namespace, read live from the API server when a client Service is admitted
 * (admissionHandler.ts asks only for Kafka Services, so the call is rare). A live list, not a
 * cluster-wide watch: a webhook holding every StatefulSet of a large cluster in memory to serve an
 * occasional Service is a poor trade.
 *
 * Needs RBAC `list` on `statefulsets.apps`. Failures and slow answers give an empty list — the
 * Service is then decided as without a cluster — and never hold the admission past `timeoutMs`.
 */
import { loadKubeConfig, type KubeConfigLocation } from './kubeConfig.ts';
import type { Log } from './log.ts';

export function kubeStatefulSets(
  location: KubeConfigLocation,
  log: Log,
  timeoutMs = 2000,
): (namespace: string) => Promise<unknown[]> {
  let client: Promise<(namespace: string) => Promise<unknown[]>> | undefined;
  const connect = async (): Promise<(namespace: string) => Promise<unknown[]>> => {
    const { AppsV1Api } = await import('@kubernetes/client-node');
    const api = (await loadKubeConfig(location)).makeApiClient(AppsV1Api);
    return async (namespace) => (await api.listNamespacedStatefulSet({ namespace })).items;
  };
  return async (namespace) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      client ??= connect();
      const list = await client;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer in ${timeoutMs} ms`));
        }, timeoutMs);
      });
      return await Promise.race([list(namespace), timeout]);
    } catch (error) {
      log.warn(
        `StatefulSets of ${namespace} not listed, deciding the Service without them: ${error instanceof Error ? error.message : String(error)}`,
      );
      return [];
    } finally {
      clearTimeout(timer);
    }
  };
}
