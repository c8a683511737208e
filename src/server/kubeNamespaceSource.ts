/**
 * The production NamespaceSource: list+watch of `/api/v1/namespaces` (kubeInformer.ts). A failed
 * watch is retried there; the cache keeps serving what it had meanwhile.
 *
 * Needs RBAC `list` and `watch` on namespaces.
 */
import type { KubeConnection } from './kubeClient.ts';
import { startInformer, type Informer } from './kubeInformer.ts';
import type { Log } from './log.ts';
import type { NamespaceEvents, NamespaceSource } from './namespaceCache.ts';

interface Namespace {
  metadata?: { name?: string; annotations?: Record<string, string> };
}

export function kubeNamespaceSource(kube: KubeConnection, log: Log): NamespaceSource {
  let informer: Informer | undefined;
  let stopped = false;

  async function connect(events: NamespaceEvents): Promise<void> {
    const client = await kube.client();
    if (stopped) return;
    informer = startInformer<Namespace>(
      client,
      { what: 'namespace', path: '/api/v1/namespaces' },
      {
        upsert: (ns) => {
          if (ns.metadata?.name) events.upsert(ns.metadata.name, ns.metadata.annotations);
        },
        remove: (name) => {
          events.remove(name);
        },
        synced: () => {
          events.synced();
        },
      },
      log,
    );
  }

  return {
    description: `namespace watch via ${kube.description}`,
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
