/**
 * Keeps the node-address ConfigMap (SPEC §2 `address-type`) in every opted-in namespace: node
 * name → that node's addresses, which mutated broker pods mount and read by `spec.nodeName`. So
 * the Kafka pods need no Kubernetes API access and no RBAC of their own.
 *
 * Every replica publishes: the content is a pure function of the Node list (core
 * `nodeAddressMapData`) and is written by server-side apply under one field manager, so replicas
 * write the same bytes and an entry no replica applies any more (a removed node) is dropped.
 * Nothing is written before the first complete Node listing, which would drop every entry.
 *
 * The watches and the writes are behind small interfaces; `kubeNodeAddressPublisher` wires them to
 * the API server, tests drive them directly.
 */
import { nodeAddressMapData, NODE_ADDRESS_MAP, type NodeAddress } from '../core/nodeAddresses.ts';
import { INJECT_LABEL } from '../core/config.ts';
import { describeKubeConfig, loadKubeConfig, type KubeConfigLocation } from './kubeConfig.ts';
import { FIRST_RETRY_MS, keepInformerRunning, MAX_RETRY_MS } from './informerRestarts.ts';
import type { Log } from './log.ts';

export const FIELD_MANAGER = 'kafka-nodeport-injector';

/** Writes one namespace's ConfigMap with exactly `data` (server-side apply). */
export type ApplyNodeAddressMap = (namespace: string, data: Record<string, string>) => Promise<void>;

export class NodeAddressPublisher {
  readonly #apply: ApplyNodeAddressMap;
  readonly #log: Log;
  readonly #excluded: ReadonlySet<string>;
  readonly #nodes = new Map<string, NodeAddress[]>();
  readonly #namespaces = new Set<string>();
  /** What each namespace holds as far as we know (JSON of the data we last applied there). */
  readonly #written = new Map<string, string>();
  #nodesSynced = false;
  #flushing: Promise<void> | undefined;
  #again = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs = FIRST_RETRY_MS;
  #stopped = false;

  constructor(apply: ApplyNodeAddressMap, log: Log, excludedNamespaces: Iterable<string>) {
    this.#apply = apply;
    this.#log = log;
    this.#excluded = new Set(excludedNamespaces);
  }

  upsertNode(name: string, addresses: NodeAddress[]): void {
    this.#nodes.set(name, addresses);
    this.#changed();
  }

  removeNode(name: string): void {
    this.#nodes.delete(name);
    this.#changed();
  }

  /** The first complete Node listing is in: the map can be written without losing entries. */
  nodesSynced(): void {
    this.#nodesSynced = true;
    this.#changed();
  }

  /** A namespace that carries the opt-in label (the informer's label selector). */
  upsertNamespace(name: string): void {
    if (this.#excluded.has(name)) return;
    this.#namespaces.add(name);
    this.#changed();
  }

  removeNamespace(name: string): void {
    this.#namespaces.delete(name);
    this.#written.delete(name);
  }

  /** The ConfigMap's data as it should be now. */
  get data(): Record<string, string> {
    return nodeAddressMapData([...this.#nodes].map(([name, addresses]) => ({ name, addresses })));
  }

  /** Resolves when every opted-in namespace holds the current data (or a write failed). */
  settled(): Promise<void> {
    return this.#flushing ?? Promise.resolve();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
  }

  #changed(): void {
    if (!this.#nodesSynced || this.#stopped) return;
    if (this.#flushing) {
      this.#again = true;
      return;
    }
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = undefined;
      if (this.#again) {
        this.#again = false;
        this.#changed();
      }
    });
  }

  async #flush(): Promise<void> {
    const data = this.data;
    const content = JSON.stringify(data);
    let failed = false;
    for (const namespace of [...this.#namespaces].sort()) {
      if (this.#written.get(namespace) === content) continue;
      try {
        await this.#apply(namespace, data);
        this.#written.set(namespace, content);
      } catch (error) {
        failed = true;
        this.#log.warn(
          `ConfigMap ${namespace}/${NODE_ADDRESS_MAP} not written (retrying in ${String(this.#retryMs)} ms): ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    if (!failed) {
      this.#retryMs = FIRST_RETRY_MS;
      return;
    }
    // A failed write is retried, not lost until the next node change.
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#changed();
    }, this.#retryMs);
    this.#retryTimer.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
  }
}

export interface RunningPublisher {
  readonly description: string;
  readonly publisher: NodeAddressPublisher;
  stop(): Promise<void>;
}

/**
 * The publisher on a real API server: informers on Nodes and on opted-in Namespaces, writes by
 * server-side apply. Needs RBAC `list`/`watch` nodes and namespaces, `get`/`create`/`patch`
 * ConfigMaps (see manifests/base/rbac.yaml).
 */
export async function kubeNodeAddressPublisher(
  location: KubeConfigLocation,
  log: Log,
  excludedNamespaces: Iterable<string>,
): Promise<RunningPublisher> {
  const k8s = await import('@kubernetes/client-node');
  const config = await loadKubeConfig(location);
  const core = config.makeApiClient(k8s.CoreV1Api);
  const objects = k8s.KubernetesObjectApi.makeApiClient(config);
  const apply: ApplyNodeAddressMap = async (namespace, data) => {
    await objects.patch(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: NODE_ADDRESS_MAP, namespace }, data },
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      k8s.PatchStrategy.ServerSideApply,
    );
  };
  const publisher = new NodeAddressPublisher(apply, log, excludedNamespaces);

  const selector = `${INJECT_LABEL}=enabled`;
  const nodes = k8s.makeInformer(config, '/api/v1/nodes', () => core.listNode());
  const namespaces = k8s.makeInformer(
    config,
    `/api/v1/namespaces`,
    () => core.listNamespace({ labelSelector: selector }),
    selector,
  );
  const addressesOf = (node: {
    status?: { addresses?: { type: string; address: string }[] };
  }): NodeAddress[] => (node.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address }));
  nodes.on('add', (node) => {
    if (node.metadata?.name) publisher.upsertNode(node.metadata.name, addressesOf(node));
  });
  nodes.on('update', (node) => {
    if (node.metadata?.name) publisher.upsertNode(node.metadata.name, addressesOf(node));
  });
  nodes.on('delete', (node) => {
    if (node.metadata?.name) publisher.removeNode(node.metadata.name);
  });
  const upsertNamespace = (ns: { metadata?: { name?: string } }): void => {
    if (ns.metadata?.name) publisher.upsertNamespace(ns.metadata.name);
  };
  namespaces.on('add', upsertNamespace);
  namespaces.on('update', upsertNamespace);
  namespaces.on('delete', (ns) => {
    if (ns.metadata?.name) publisher.removeNamespace(ns.metadata.name);
  });

  let stopped = false;
  const isStopped = (): boolean => stopped;
  void keepInformerRunning(namespaces, 'opted-in namespace', log, isStopped, () => undefined);
  void keepInformerRunning(nodes, 'node', log, isStopped, () => {
    publisher.nodesSynced();
  });

  return {
    description: `ConfigMap ${NODE_ADDRESS_MAP} in opted-in namespaces via ${describeKubeConfig(location)}`,
    publisher,
    async stop() {
      stopped = true;
      publisher.stop();
      await Promise.allSettled([nodes.stop(), namespaces.stop()]);
    },
  };
}
