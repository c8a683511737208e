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
import { Backoff } from './backoff.ts';
import { PATCH, type KubeConnection } from './kubeClient.ts';
import { startInformer } from './kubeInformer.ts';
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
  readonly #backoff = new Backoff();
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
          `ConfigMap ${namespace}/${NODE_ADDRESS_MAP} not written (retrying in ${String(this.#backoff.pendingMs)} ms): ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    if (!failed) {
      this.#backoff.reset();
      return;
    }
    // A failed write is retried, not lost until the next node change.
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#changed();
    }, this.#backoff.next());
    this.#retryTimer.unref();
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
  kube: KubeConnection,
  log: Log,
  excludedNamespaces: Iterable<string>,
): Promise<RunningPublisher> {
  const client = await kube.client();
  const apply: ApplyNodeAddressMap = async (namespace, data) => {
    await client.patch(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${NODE_ADDRESS_MAP}`,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: NODE_ADDRESS_MAP, namespace }, data },
      PATCH.apply,
      { fieldManager: FIELD_MANAGER, force: true },
    );
  };
  const publisher = new NodeAddressPublisher(apply, log, excludedNamespaces);

  interface Node {
    metadata?: { name?: string };
    status?: { addresses?: { type: string; address: string }[] };
  }
  const nodes = startInformer<Node>(
    client,
    { what: 'node', path: '/api/v1/nodes' },
    {
      upsert: (node) => {
        const addresses = (node.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address }));
        if (node.metadata?.name) publisher.upsertNode(node.metadata.name, addresses);
      },
      remove: (name) => {
        publisher.removeNode(name);
      },
      synced: () => {
        publisher.nodesSynced();
      },
    },
    log,
  );
  const namespaces = startInformer<{ metadata?: { name?: string } }>(
    client,
    {
      what: 'opted-in namespace',
      path: '/api/v1/namespaces',
      query: { labelSelector: `${INJECT_LABEL}=enabled` },
    },
    {
      upsert: (ns) => {
        if (ns.metadata?.name) publisher.upsertNamespace(ns.metadata.name);
      },
      remove: (name) => {
        publisher.removeNamespace(name);
      },
      synced: () => undefined,
    },
    log,
  );

  return {
    description: `ConfigMap ${NODE_ADDRESS_MAP} in opted-in namespaces via ${kube.description}`,
    publisher,
    async stop() {
      publisher.stop();
      await Promise.allSettled([nodes.stop(), namespaces.stop()]);
    },
  };
}
