/**
 * List+watch of one resource, the way client-go's reflector does it: a complete (paginated)
 * list, then a watch from the list's resourceVersion with bookmarks; a watch the server ends
 * (its timeoutSeconds) is opened again from the last resourceVersion seen; 410 Gone (that
 * version is compacted away) lists again; any other failure waits (backoff.ts) and tries again.
 * Caches built on it (namespace annotations, the node-address map) keep serving what they had
 * meanwhile and catch up after.
 *
 * The informer keeps no objects, only their keys: each consumer keeps the few fields it decides
 * on (the namespace cache its own annotations, the publisher node addresses), so a large cluster's
 * Nodes and Namespaces are not held in memory whole.
 */
import { Backoff } from './backoff.ts';
import {
  KubeApiError,
  statusOf,
  type KubeClient,
  type Query,
  type Representation,
  type Watch,
  type WatchEvent,
} from './kubeClient.ts';
import type { Log } from './log.ts';

export interface ObjectMeta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string } | undefined;
}

export interface InformerHandlers<T> {
  /** An object was listed, added or changed. */
  upsert(object: T): void;
  /** The object with this key (`name`, or `namespace/name`) is gone. */
  remove(key: string): void;
  /** A complete listing has been delivered (after every list, the first one included). */
  synced(): void;
  /** A list or watch failed and is tried again after a backoff (403: not allowed, yet). */
  failed?(error: unknown): void;
}

export interface Informer {
  stop(): Promise<void>;
}

interface List<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

/** Page size of a list (client-go's default). */
const PAGE = 500;
/** Watches are ended by the server after 5–10 minutes (randomised as client-go does). */
const WATCH_MIN_SECONDS = 300;

const keyOf = (object: ObjectMeta): string | undefined => {
  const name = object.metadata?.name;
  if (!name) return undefined;
  return object.metadata?.namespace ? `${object.metadata.namespace}/${name}` : name;
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** What an informer lists and watches. */
export interface InformerSource {
  /** For log lines: `namespace`, `Service`… */
  what: string;
  /** A collection, e.g. `/api/v1/nodes`. */
  path: string;
  /** Selectors. */
  query?: Query;
  /** `metadata`: objects' metadata alone (default: whole objects). */
  representation?: Representation;
  /** The list's `limit` (tests make it small). */
  pageSize?: number;
}

/** Starts list+watch of a collection and keeps it running until stop(). */
export function startInformer<T extends ObjectMeta>(
  client: KubeClient,
  source: InformerSource,
  handlers: InformerHandlers<T>,
  log: Log,
): Informer {
  const { what, path, query = {}, representation, pageSize = PAGE } = source;
  const keys = new Set<string>();
  const backoff = new Backoff();
  let stopped = false;
  // A call, not the variable: the loop must see a stop() that came during an await.
  const isStopped = (): boolean => stopped;
  let watch: Watch | undefined;
  let wake: (() => void) | undefined;

  /**
   * The newest resourceVersion seen (list, events, bookmarks): a failed watch resumes from it, so
   * a network blip long into a watch does not go back to a version etcd has compacted since.
   * Undefined: list first.
   */
  let resourceVersion: string | undefined;

  const list = async (): Promise<void> => {
    const seen = new Set<string>();
    let next: string | undefined;
    let listedVersion: string | undefined;
    do {
      const page: List<T> = await client.get(
        path,
        { ...query, limit: pageSize, continue: next },
        representation,
      );
      for (const item of page.items ?? []) {
        const key = keyOf(item);
        if (key === undefined) continue;
        seen.add(key);
        handlers.upsert(item);
      }
      next = page.metadata?.continue || undefined;
      listedVersion = page.metadata?.resourceVersion;
    } while (next !== undefined && !isStopped());
    // Stopped between pages: what was read is not the whole list.
    if (isStopped()) return;
    for (const key of keys) if (!seen.has(key)) handlers.remove(key);
    keys.clear();
    for (const key of seen) keys.add(key);
    handlers.synced();
    backoff.reset();
    resourceVersion = listedVersion ?? '';
  };

  const watchFrom = async (from: string): Promise<void> => {
    let failure: Error | undefined;
    const onEvent = (event: WatchEvent): void => {
      if (event.type === 'ERROR') {
        const status = event.object as { code?: unknown; message?: unknown } | undefined;
        const code = typeof status?.code === 'number' ? status.code : 0;
        failure = new KubeApiError(
          code,
          undefined,
          `watch: ${typeof status?.message === 'string' ? status.message : 'error event'}`,
        );
        watch?.stop();
        return;
      }
      const object = event.object as T;
      resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
      if (event.type === 'BOOKMARK') return;
      const key = keyOf(object);
      if (key === undefined) return;
      if (event.type === 'DELETED') {
        keys.delete(key);
        handlers.remove(key);
      } else {
        keys.add(key);
        handlers.upsert(object);
      }
    };
    watch = await client.watch(
      path,
      {
        ...query,
        resourceVersion: from,
        allowWatchBookmarks: true,
        timeoutSeconds: WATCH_MIN_SECONDS + Math.floor(Math.random() * WATCH_MIN_SECONDS),
      },
      onEvent,
      representation,
    );
    // stop() may have come while the watch was connecting, when there was nothing to stop.
    if (isStopped()) watch.stop();
    const ended = await watch.done;
    watch = undefined;
    const error = failure ?? ended;
    if (error) throw error;
    backoff.reset();
  };

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const run = async (): Promise<void> => {
    while (!isStopped()) {
      try {
        if (resourceVersion === undefined) await list();
        if (isStopped() || resourceVersion === undefined) continue;
        await watchFrom(resourceVersion);
      } catch (error) {
        if (isStopped()) break;
        // Too old (a watch's ERROR event or answer, or an expired continue token): list again.
        if (statusOf(error) === 410) {
          resourceVersion = undefined;
          continue;
        }
        handlers.failed?.(error);
        const delay = backoff.next();
        log.warn(`${what} watch failed (retrying in ${String(delay)} ms): ${messageOf(error)}`);
        await pause(delay);
      }
    }
  };

  const running = run();
  return {
    async stop() {
      stopped = true;
      watch?.stop();
      wake?.();
      await running;
    },
  };
}
