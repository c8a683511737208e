/**
 * SPEC §2's second configuration source: the annotations of the object's namespace. Admission
 * must not call the API server per request (latency, and a webhook that lists namespaces on every
 * StatefulSet is a load multiplier), so a watch keeps a local copy.
 *
 * The cache only knows a `NamespaceSource` — something that reports namespaces as they appear,
 * change and go, and says when its first full listing is in. The Kubernetes informer is one
 * source (kubeNamespaceSource.ts); tests feed a fake one. Only our own
 * `kafka-nodeport-injector/*` annotations are kept: nothing else is needed, and a namespace's
 * other annotations can be large.
 */
import { ANNOTATION_PREFIX } from '../core/config.ts';

export interface NamespaceEvents {
  upsert(name: string, annotations: Record<string, string> | undefined): void;
  remove(name: string): void;
  /** The first complete listing has been delivered. */
  synced(): void;
}

export interface NamespaceSource {
  /** Human description for the startup log. */
  readonly description: string;
  start(events: NamespaceEvents): void;
  stop(): Promise<void>;
}

export interface NamespaceAnnotationLookup {
  /** Whether namespace annotations are read at all (false without a cluster to read them from). */
  readonly enabled: boolean;
  /** True once lookups are trustworthy; `/readyz` waits for it. */
  readonly ready: boolean;
  annotations(namespace: string): Record<string, string> | undefined;
}

function ownAnnotations(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!annotations) return undefined;
  const own = Object.entries(annotations).filter(([key]) => key.startsWith(ANNOTATION_PREFIX));
  return own.length > 0 ? Object.fromEntries(own) : undefined;
}

export class NamespaceCache implements NamespaceAnnotationLookup {
  readonly #source: NamespaceSource;
  readonly #annotations = new Map<string, Record<string, string>>();
  #synced = false;

  constructor(source: NamespaceSource) {
    this.#source = source;
  }

  get enabled(): boolean {
    return true;
  }

  get ready(): boolean {
    return this.#synced;
  }

  get description(): string {
    return this.#source.description;
  }

  start(): void {
    this.#source.start({
      upsert: (name, annotations) => {
        const own = ownAnnotations(annotations);
        if (own) this.#annotations.set(name, own);
        else this.#annotations.delete(name);
      },
      remove: (name) => {
        this.#annotations.delete(name);
      },
      synced: () => {
        this.#synced = true;
      },
    });
  }

  stop(): Promise<void> {
    return this.#source.stop();
  }

  annotations(namespace: string): Record<string, string> | undefined {
    return this.#annotations.get(namespace);
  }
}

/** No kubeconfig, no cluster: namespace annotations are off and the server is ready at once. */
export const namespaceAnnotationsOff: NamespaceAnnotationLookup = {
  enabled: false,
  ready: true,
  annotations: () => undefined,
};
