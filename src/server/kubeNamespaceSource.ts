/**
 * The production NamespaceSource: a list+watch informer on `/api/v1/namespaces` from
 * @kubernetes/client-node. The informer stops on a list or watch error; it is restarted here with
 * a capped backoff, and the cache keeps serving what it had meanwhile.
 *
 * Needs RBAC `list` and `watch` on namespaces.
 */
import type { Informer, V1Namespace } from '@kubernetes/client-node';
import { describeKubeConfig, loadKubeConfig, type KubeConfigLocation } from './kubeConfig.ts';
import type { Log } from './log.ts';
import type { NamespaceEvents, NamespaceSource } from './namespaceCache.ts';

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

export function kubeNamespaceSource(location: KubeConfigLocation, log: Log): NamespaceSource {
  let informer: Informer<V1Namespace> | undefined;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryMs = FIRST_RETRY_MS;

  async function connect(events: NamespaceEvents): Promise<void> {
    const k8s = await import('@kubernetes/client-node');
    const config = await loadKubeConfig(location);
    const api = config.makeApiClient(k8s.CoreV1Api);
    const watched = k8s.makeInformer(config, '/api/v1/namespaces', () => api.listNamespace());
    informer = watched;
    const upsert = (ns: V1Namespace): void => {
      if (ns.metadata?.name) events.upsert(ns.metadata.name, ns.metadata.annotations);
    };
    watched.on('add', upsert);
    watched.on('update', upsert);
    watched.on('delete', (ns) => {
      if (ns.metadata?.name) events.remove(ns.metadata.name);
    });
    // Counted by the error callback, which start() runs when its list fails (it does not throw).
    let errors = 0;
    watched.on('error', (error: unknown) => {
      errors += 1;
      if (stopped) return;
      log.warn(
        `namespace watch failed (retrying in ${retryMs} ms): ${error instanceof Error ? error.message : String(error)}`,
      );
      retryTimer = setTimeout(() => void start(), retryMs);
      retryTimer.unref();
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    });
    const start = async (): Promise<void> => {
      const errorsBefore = errors;
      await watched.start();
      // start() resolves after the list, also when the list failed (the error callback ran).
      if (errors === errorsBefore && !stopped) {
        retryMs = FIRST_RETRY_MS;
        events.synced();
      }
    };
    await start();
  }

  return {
    description: `namespace watch via ${describeKubeConfig(location)}`,
    start(events) {
      connect(events).catch((error: unknown) => {
        log.error(
          `namespace watch could not start: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      await informer?.stop();
    },
  };
}
