/**
 * The webhook's own Kubernetes client: JSON over HTTPS to the API server, and watches as
 * newline-delimited JSON streams. It is all `serve` and `explain --kubeconfig` need — a few
 * reads, a create, a replace, two kinds of patch and list+watch (kubeInformer.ts).
 *
 * Why not @kubernetes/client-node: importing it costs ~40 MiB of resident memory (its config
 * module pulls in every generated API and model), more than the rest of the webhook together,
 * in a process that only ever calls a handful of endpoints. It is still used where it does what
 * this file does not: credential plugins (`exec`, `auth-provider`) in a kubeconfig, see
 * kubeCredentials.ts.
 *
 * Objects stay the API server's JSON: no typed models, no Date conversion. The core reads
 * admission JSON, and the same shapes come back from here.
 */
import { Agent as TlsAgent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { request as plainRequest } from './nodeHttp.ts';
import { describeKubeConfig, type KubeConfigLocation } from './kubeConfig.ts';
import { loadCredentials, type KubeCredentials } from './kubeCredentials.ts';

/** A non-2xx answer of the API server; `status` is the HTTP status (404, 409, 410, …). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;

  constructor(status: number, reason: string | undefined, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

/** The HTTP status of a failed call, when the API server answered. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof KubeApiError ? error.status : undefined;
}

export type Query = Record<string, string | number | boolean | undefined>;

export const PATCH = {
  merge: 'application/merge-patch+json',
  strategicMerge: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;
export type PatchType = (typeof PATCH)[keyof typeof PATCH];

/**
 * What a read returns: whole objects, or their metadata only (client-go's metadata client): a list
 * or watch of Secrets then carries names, labels and resourceVersions, never their data.
 */
export type Representation = 'object' | 'metadata';

const ACCEPT = {
  list: {
    object: 'application/json',
    metadata: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
  },
  // A watch's events carry single objects: the list form is refused there (the stream stays empty).
  watch: {
    object: 'application/json',
    metadata: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
  },
} as const;

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

export interface Watch {
  /**
   * Resolves when the stream ends: with undefined when the server closed it (its timeoutSeconds)
   * or `stop()` was called, with the error when it failed.
   */
  readonly done: Promise<Error | undefined>;
  stop(): void;
}

/** A request that gets no answer in this time fails (watches: no first byte in this time). */
const REQUEST_TIMEOUT_MS = 10_000;
/** What the API server uses when a watch sets no timeoutSeconds (its --min-request-timeout, up to twice that). */
const DEFAULT_WATCH_SECONDS = 3600;
/** TCP keepalive on a watch's socket, so a dead peer is also noticed below the HTTP layer. */
const WATCH_KEEPALIVE_MS = 30_000;
/** Bound on one watch event line: an object is at most ~1.5 MiB in etcd. */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;

function withQuery(path: string, query: Query | undefined): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

function failure(status: number, body: string, method: string, path: string): KubeApiError {
  let reason: string | undefined;
  let message = body.slice(0, 500);
  try {
    const parsed = JSON.parse(body) as { reason?: unknown; message?: unknown };
    if (typeof parsed.reason === 'string') reason = parsed.reason;
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not a Status object: keep the start of the text
  }
  return new KubeApiError(status, reason, `${method} ${path}: ${String(status)} ${message}`);
}

export class KubeClient {
  readonly #credentials: KubeCredentials;
  readonly #server: URL;
  /** A server URL may carry a path prefix (an API proxy): API paths go after it. */
  readonly #prefix: string;

  constructor(credentials: KubeCredentials) {
    this.#credentials = credentials;
    this.#server = new URL(credentials.server);
    this.#prefix = this.#server.pathname.replace(/\/$/, '');
  }

  get description(): string {
    return this.#credentials.description;
  }

  /** The namespace of the kubeconfig's current context, if it names one. */
  get defaultNamespace(): string | undefined {
    return this.#credentials.namespace;
  }

  /** `metadata`: a collection's items as metadata alone. */
  get<T = unknown>(path: string, query?: Query, representation: Representation = 'object'): Promise<T> {
    return this.#json<T>('GET', path, query, undefined, undefined, ACCEPT.list[representation]);
  }

  /** The items of a collection, one request (the caller's lists are small: a namespace's). */
  async list<T = unknown>(path: string, query?: Query, representation?: Representation): Promise<T[]> {
    return (await this.get<{ items?: T[] }>(path, query, representation)).items ?? [];
  }

  create<T = unknown>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.#json<T>('POST', path, query, body, 'application/json');
  }

  replace<T = unknown>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.#json<T>('PUT', path, query, body, 'application/json');
  }

  patch<T = unknown>(path: string, body: unknown, type: PatchType, query?: Query): Promise<T> {
    return this.#json<T>('PATCH', path, query, body, type);
  }

  /**
   * Opens a watch (`?watch=true` is added) and calls `onEvent` per event, in order. Events of
   * type ERROR carry a Status object (410 Gone: the resourceVersion is too old, list again).
   */
  async watch(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent) => void,
    representation: Representation = 'object',
  ): Promise<Watch> {
    const abort = new AbortController();
    // The server ends the watch after timeoutSeconds; silence for a minute longer means it is gone.
    const serverSeconds =
      typeof query.timeoutSeconds === 'number' ? query.timeoutSeconds : DEFAULT_WATCH_SECONDS;
    const response = await this.#send('GET', withQuery(path, { ...query, watch: true }), {
      signal: abort.signal,
      watchIdleMs: (serverSeconds + 60) * 1000,
      accept: ACCEPT.watch[representation],
    });
    if (response.statusCode !== 200) {
      const body = await readBody(response);
      throw failure(response.statusCode ?? 0, body, 'GET', path);
    }
    const done = new Promise<Error | undefined>((resolve) => {
      let failed: Error | undefined;
      let pending = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        pending += chunk;
        let newline = pending.indexOf('\n');
        try {
          // Nothing more is delivered once stopped (an ERROR event may stop the watch mid-chunk).
          while (newline >= 0 && !abort.signal.aborted) {
            const line = pending.slice(0, newline);
            pending = pending.slice(newline + 1);
            if (line.trim() !== '') onEvent(JSON.parse(line) as WatchEvent);
            newline = pending.indexOf('\n');
          }
        } catch (error) {
          response.destroy(error instanceof Error ? error : new Error(String(error)));
        }
        if (pending.length > MAX_EVENT_BYTES) response.destroy(new Error('watch event too large'));
      });
      response.on('error', (error) => {
        failed = abort.signal.aborted ? undefined : error;
      });
      response.on('close', () => {
        resolve(failed);
      });
    });
    return {
      done,
      stop: () => {
        abort.abort();
      },
    };
  }

  async #json<T>(
    method: string,
    path: string,
    query?: Query,
    body?: unknown,
    type?: string,
    accept?: string,
  ): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const response = await this.#send(method, withQuery(path, query), { payload, type, accept });
    const text = await readBody(response);
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw failure(status, text, method, path);
    return JSON.parse(text) as T;
  }

  async #send(
    method: string,
    path: string,
    {
      signal,
      payload,
      type,
      accept,
      watchIdleMs,
    }: {
      signal?: AbortSignal;
      payload?: string | undefined;
      type?: string | undefined;
      accept?: string | undefined;
      /** A watch: how long its stream may stay silent. */
      watchIdleMs?: number;
    },
  ): Promise<IncomingMessage> {
    const base = await this.#credentials.requestOptions();
    const url = this.#server;
    const headers: Record<string, string> = {
      ...base.headers,
      accept: accept ?? 'application/json',
      'user-agent': 'kafka-nodeport-injector',
    };
    if (payload !== undefined) {
      headers['content-type'] = type ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const plain = url.protocol === 'http:';
    // Plain HTTP (a local proxy such as `kubectl proxy`) takes no TLS agent; a delegated
    // configuration's own agent (a proxy's) stays.
    const { agent, ...rest } = base;
    const options: RequestOptions = {
      ...rest,
      ...(plain && agent instanceof TlsAgent ? {} : { agent }),
      method,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (plain ? 80 : 443),
      path: this.#prefix + path,
      headers,
      ...(signal ? { signal } : {}),
    };
    const send = plain ? plainRequest : request;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(options, resolve);
      let answered = false;
      // One idle timer on the socket: until the answer it bounds the wait for it; a watch's
      // stream is then allowed `watchIdleMs` of silence, past which the server (which ends the
      // watch itself after its timeoutSeconds) or the path to it is gone without a FIN.
      req.setTimeout(REQUEST_TIMEOUT_MS, () => {
        req.destroy(
          new Error(
            answered
              ? `${method} ${path}: the watch was silent for ${String(watchIdleMs)} ms`
              : `${method} ${path}: no answer in ${String(REQUEST_TIMEOUT_MS)} ms`,
          ),
        );
      });
      if (watchIdleMs !== undefined) {
        req.on('response', (response) => {
          if (response.statusCode !== 200) return;
          answered = true;
          req.setTimeout(watchIdleMs);
          response.socket.setKeepAlive(true, WATCH_KEEPALIVE_MS);
        });
      }
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    response.on('error', reject);
  });
}

/** A client for the API server named by `location` (reads the credentials, connects lazily). */
export async function connectKube(location: KubeConfigLocation): Promise<KubeClient> {
  return new KubeClient(await loadCredentials(location));
}

/**
 * The server's one client, shared by everything `serve` runs against the API server (namespace
 * watch, node-address map, release lookups, self-managed certificates): the credentials are read
 * once and one keep-alive agent carries every request. Made on first use; an attempt that failed
 * (an unreadable kubeconfig, say) is made again at the next use.
 */
export class KubeConnection {
  readonly description: string;
  readonly #location: KubeConfigLocation;
  #client: Promise<KubeClient> | undefined;

  constructor(location: KubeConfigLocation) {
    this.#location = location;
    this.description = describeKubeConfig(location);
  }

  client(): Promise<KubeClient> {
    this.#client ??= connectKube(this.#location).catch((error: unknown) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }
}
