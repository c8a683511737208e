/**
 * The node ports Services hold, cluster-wide, from a list+watch of every Service (kubeInformer.ts):
 * a node port opens on every node, so a claim is checked against the whole cluster, and a live
 * list of it on every admission grows with the cluster (12,000 Services: ~0.5 s per admission).
 *
 * Only Services that hold a node port are kept, and only what a claim reads of them
 * (core `nodePortHolder`): a ClusterIP Service costs one key in the informer.
 *
 * Freshness: the cache answers from the last watch event, milliseconds behind the API server. A
 * Service another release creates within that window is not seen; the API server's node-port
 * allocator is the final authority and refuses the second Service on a port. The live list had
 * the same window (two installs admitted at the same moment each saw the other's port free).
 *
 * Needs RBAC `list` and `watch` on services, cluster-wide.
 */
import { nodePortHolder, type NodePortHolder } from '../core/nodePortClaim.ts';
import type { KubeConnection } from './kubeClient.ts';
import { startInformer, type Informer, type ObjectMeta } from './kubeInformer.ts';
import type { Log } from './log.ts';

export interface NodePortServices {
  /** True once the first complete listing is in; until then no claim can be checked. */
  readonly ready: boolean;
  /** The Services that hold a node port (trimmed). */
  holders(): NodePortHolder[];
  stop(): Promise<void>;
}

export function kubeNodePortServices(kube: KubeConnection, log: Log): NodePortServices {
  const held = new Map<string, NodePortHolder>();
  let synced = false;
  let informer: Informer | undefined;
  let stopped = false;

  const connect = async (): Promise<void> => {
    const client = await kube.client();
    if (stopped) return;
    informer = startInformer<ObjectMeta>(
      client,
      { what: 'Service', path: '/api/v1/services' },
      {
        upsert: (service) => {
          const key = `${service.metadata?.namespace ?? ''}/${service.metadata?.name ?? ''}`;
          const holder = nodePortHolder(service);
          if (holder) held.set(key, holder);
          else held.delete(key);
        },
        remove: (key) => {
          held.delete(key);
        },
        synced: () => {
          synced = true;
        },
      },
      log,
    );
  };
  connect().catch((error: unknown) => {
    log.error(`Service watch could not start: ${error instanceof Error ? error.message : String(error)}`);
  });

  return {
    get ready() {
      return synced;
    },
    holders: () => [...held.values()],
    async stop() {
      stopped = true;
      await informer?.stop();
    },
  };
}
