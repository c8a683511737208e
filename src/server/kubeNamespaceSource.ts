/**
 * The production NamespaceSource: a list+watch informer on `/api/v1/namespaces` from
 * @kubernetes/client-node. The informer stops on a list or watch error; it is restarted here with
 * a capped backoff, and the cache keeps serving what it had meanwhile.
 *
 * Needs RBAC `list` and `watch` on namespaces.
 */
import type { Informer, V1Namespace } from '@kubernetes/client-node';
import { describeKubeConfig, loadKubeConfig, type KubeConfigLocation } from './kubeConfig.ts';
import { keepInformerRunning } from './informerRestarts.ts';
import type { Log } from './log.ts';
import type { NamespaceEvents, NamespaceSource } from './namespaceCache.ts';

export function kubeNamespaceSource(location: KubeConfigLocation, log: Log): NamespaceSource {
  let informer: Informer<V1Namespace> | undefined;
  let stopped = false;

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
    await keepInformerRunning(
      watched,
      'namespace',
      log,
      () => stopped,
      () => {
        events.synced();
      },
    );
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
      await informer?.stop();
    },
  };
}
