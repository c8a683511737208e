/**
 * `serve --self-managed-certs`: the webhook keeps its own TLS in the cluster, as Istio's and
 * Kyverno's do, so `kubectl apply -k manifests/` needs nothing else (no cert-manager).
 *
 * Every replica runs the same loop: read the Secret (create it when missing — a create that
 * loses the race with another replica, 409, reads the winner's), serve its pair through the TLS
 * reload path (`install`, i.e. setSecureContext: in-flight connections keep theirs), then take
 * the one step certificateRotation.ts decides — publish the caBundle, stage, promote, drop the
 * previous CA — and go round again until the answer is "wait until …". Writes carry the
 * resourceVersion they read; a 409 means another replica got there first, so read again.
 *
 * A watch on the Secret (field selector metadata.name, which RBAC allows by resourceName) makes
 * every replica reload within milliseconds of a change; a timer wakes the loop when the next step
 * is due, and at least every `resyncMs` (a lost watch, a caBundle someone overwrote).
 *
 * RBAC: secrets create, and get/watch/update on this Secret's name; get/patch on the webhook
 * configuration (manifests/base/rbac.yaml).
 */
import { generateCertificateSet, certificateExpiry, type PemPair } from './certificates.ts';
import {
  ROTATION_ANNOTATIONS,
  freshContent,
  generationOf,
  nextStep,
  previousCaDropped,
  promoted,
  servingPair,
  splitBundle,
  staged,
  type PublishedBundle,
  type RotationPolicy,
  type RotationStep,
  type TlsSecret,
} from './certificateRotation.ts';
import { Backoff } from './backoff.ts';
import { PATCH, statusOf, type KubeClient, type KubeConnection, type Watch } from './kubeClient.ts';
import type { Log } from './log.ts';

export interface SelfManagedCertsOptions {
  kube: KubeConnection;
  namespace: string;
  secretName: string;
  webhookConfigurationName: string;
  policy: RotationPolicy;
  /** Puts a pair into the running TLS server (TlsReloader.install). */
  install: (pair: PemPair) => void;
  log: Log;
  /** Go round at least this often (default 60 s). */
  resyncMs?: number;
  now?: () => Date;
}

const DEFAULT_RESYNC_MS = 60_000;
/** The Secret's watch is ended by the server after this long and opened again. */
const WATCH_SECONDS = 300;
/** Steps taken in one go before the loop yields (a healthy rotation needs at most two). */
const MAX_STEPS_PER_PASS = 10;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The parts of a Secret and a webhook configuration this loop reads and writes (API JSON). */
interface Secret {
  apiVersion?: string;
  kind?: string;
  type?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data?: Record<string, string>;
}

interface WebhookConfiguration {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string> };
  webhooks?: { name: string; clientConfig: { caBundle?: string } }[];
}

const decode = (base64: string | undefined): string => Buffer.from(base64 ?? '', 'base64').toString('utf8');
const encode = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function tlsSecretOf(secret: Secret): TlsSecret {
  return {
    uid: secret.metadata?.uid ?? '',
    data: Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, decode(value)])),
    annotations: { ...secret.metadata?.annotations },
  };
}

function publishedBundleOf(config: WebhookConfiguration): PublishedBundle {
  return {
    bundles: (config.webhooks ?? []).map((webhook) => decode(webhook.clientConfig.caBundle)),
    annotations: { ...config.metadata?.annotations },
  };
}

export class SelfManagedCerts {
  readonly #options: SelfManagedCertsOptions;
  readonly #now: () => Date;
  #loaded = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #running: Promise<void> | undefined;
  #again = false;
  readonly #retry = new Backoff();
  readonly #watchRetry = new Backoff();
  #secretWatch: Watch | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #watchResourceVersion: string | undefined;
  #lastWait = '';

  constructor(options: SelfManagedCertsOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** True once a pair from the Secret is being served: `/readyz` waits for it. */
  get loaded(): boolean {
    return this.#loaded;
  }

  get description(): string {
    return `Secret ${this.#options.namespace}/${this.#options.secretName}`;
  }

  start(): void {
    this.#trigger(0);
    this.#startWatch(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#watchTimer);
    this.#secretWatch?.stop();
    await this.#running;
  }

  /** Go round within `delayMs` (sooner if already due). */
  #trigger(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#running) {
      if (delayMs === 0) this.#again = true;
      else this.#schedule(delayMs);
      return;
    }
    this.#schedule(delayMs);
  }

  #schedule(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.#timer && at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#run();
    }, delayMs);
    this.#timer.unref();
  }

  #run(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#again = false;
    this.#running = this.#pass()
      .then(
        (nextInMs) => {
          this.#retry.reset();
          return nextInMs;
        },
        (error: unknown) => {
          const delay = this.#retry.next();
          this.#options.log.warn(
            `self-managed certificates (${this.description}): ${errorMessage(error)}; retrying in ${String(delay)} ms`,
          );
          return delay;
        },
      )
      .then((nextInMs) => {
        this.#running = undefined;
        const resync = this.#options.resyncMs ?? DEFAULT_RESYNC_MS;
        this.#trigger(this.#again ? 0 : Math.max(0, Math.min(nextInMs, resync)));
      });
  }

  get #secretPath(): string {
    const { namespace, secretName } = this.#options;
    return `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(secretName)}`;
  }

  get #webhookPath(): string {
    return `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(this.#options.webhookConfigurationName)}`;
  }

  /** One round: steps until the answer is to wait; returns how long (ms). */
  async #pass(): Promise<number> {
    const client = await this.#options.kube.client();
    for (let i = 0; i < MAX_STEPS_PER_PASS && !this.#stopped; i++) {
      const raw = await this.#readOrCreateSecret(client);
      const secret = tlsSecretOf(raw);
      this.#serve(secret);
      const webhook = await this.#readWebhook(client);
      const now = this.#now();
      const step = nextStep(secret, webhook && publishedBundleOf(webhook), this.#options.policy, now);
      if (step.kind === 'wait') {
        this.#noteWait(step, webhook !== undefined);
        return step.until ? step.until.getTime() - now.getTime() : Infinity;
      }
      const done =
        step.kind === 'publish'
          ? await this.#publish(client, webhook, step)
          : await this.#write(client, raw, secret, step, now);
      if (done) this.#lastWait = '';
    }
    return 1000;
  }

  #noteWait(step: Extract<RotationStep, { kind: 'wait' }>, webhookFound: boolean): void {
    const message = webhookFound
      ? `waiting${step.until ? ` until ${step.until.toISOString()}` : ''}: ${step.reason}`
      : `mutatingwebhookconfiguration ${this.#options.webhookConfigurationName} not found: its caBundle cannot be set (will retry)`;
    if (message === this.#lastWait) return;
    this.#lastWait = message;
    if (webhookFound) this.#options.log.info(`self-managed certificates: ${message}`);
    else this.#options.log.warn(`self-managed certificates: ${message}`);
  }

  #serve(secret: TlsSecret): void {
    const pair = servingPair(secret);
    if (!pair) return;
    this.#options.install(pair);
    if (!this.#loaded) {
      this.#loaded = true;
      this.#options.log.info(
        `serving the certificate of ${this.description} (expires ${certificateExpiry(pair.cert).toISOString()})`,
      );
    }
  }

  async #readOrCreateSecret(client: KubeClient): Promise<Secret> {
    const { namespace, secretName: name } = this.#options;
    try {
      return await client.get<Secret>(this.#secretPath);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    const content = freshContent(await this.#generate(this.#options.policy.hosts), 1);
    const body: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name,
        namespace,
        labels: { 'app.kubernetes.io/name': 'kafka-nodeport-injector' },
        annotations: content.annotations,
      },
      data: Object.fromEntries(Object.entries(content.data).map(([key, value]) => [key, encode(value)])),
    };
    try {
      const created = await client.create<Secret>(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
        body,
      );
      this.#options.log.info(`created ${this.description} with a new CA and serving certificate`);
      return created;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      this.#options.log.info(`${this.description} was created by another replica meanwhile: using it`);
      return client.get<Secret>(this.#secretPath);
    }
  }

  async #readWebhook(client: KubeClient): Promise<WebhookConfiguration | undefined> {
    try {
      return await client.get<WebhookConfiguration>(this.#webhookPath);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  #generate(hosts: string[]): ReturnType<typeof generateCertificateSet> {
    return generateCertificateSet({ hosts }, this.#options.policy.validityMs);
  }

  /** Applies a step to the Secret; false when another replica changed it first (409). */
  async #write(
    client: KubeClient,
    raw: Secret,
    secret: TlsSecret,
    step: Exclude<RotationStep, { kind: 'wait' | 'publish' }>,
    now: Date,
  ): Promise<boolean> {
    let content: Omit<TlsSecret, 'uid'>;
    let message: string;
    switch (step.kind) {
      case 'replace':
        content = freshContent(await this.#generate(this.#options.policy.hosts), generationOf(secret) + 1);
        message = `replaced the content of ${this.description} (${step.reason})`;
        break;
      case 'stage':
        content = staged(secret, await this.#generate(step.hosts));
        message = `rotation: staged a new CA and serving certificate in ${this.description} (${step.reason})`;
        break;
      case 'promote':
        content = promoted(secret, now, this.#options.policy.graceMs);
        message = `rotation: now serving the new certificate; the previous CA stays trusted until ${content.annotations[ROTATION_ANNOTATIONS.previousCaUntil] ?? '?'}`;
        break;
      case 'drop-previous-ca':
        content = previousCaDropped(secret);
        message = 'rotation: the previous CA left the bundle';
        break;
    }
    // Keys we did not change keep their exact bytes.
    const data = Object.fromEntries(
      Object.entries(content.data).map(([key, value]) => [
        key,
        secret.data[key] === value ? (raw.data?.[key] ?? encode(value)) : encode(value),
      ]),
    );
    // `raw` was read for this step only. Its resourceVersion stays as read: the update fails with
    // 409 if anyone wrote in between.
    raw.metadata ??= {};
    raw.metadata.annotations = content.annotations;
    raw.data = data;
    try {
      await client.replace(this.#secretPath, raw);
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
    this.#options.log.info(message);
    return true;
  }

  async #publish(
    client: KubeClient,
    webhook: WebhookConfiguration | undefined,
    step: Extract<RotationStep, { kind: 'publish' }>,
  ): Promise<boolean> {
    if (!webhook) return false;
    const caBundle = encode(step.bundle);
    const patch = {
      metadata: {
        // A precondition: 409 if the configuration changed since it was read.
        resourceVersion: webhook.metadata?.resourceVersion,
        annotations: {
          [ROTATION_ANNOTATIONS.bundleFrom]: step.from,
          [ROTATION_ANNOTATIONS.publishedAt]: this.#now().toISOString(),
        },
      },
      // Strategic merge: entries are matched by name, so only their caBundle changes.
      webhooks: (webhook.webhooks ?? []).map((entry) => ({ name: entry.name, clientConfig: { caBundle } })),
    };
    try {
      await client.patch(this.#webhookPath, patch, PATCH.strategicMerge);
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
    this.#options.log.info(
      `caBundle of mutatingwebhookconfiguration ${this.#options.webhookConfigurationName} set to ${splitBundle(step.bundle).length} CA(s) on ${patch.webhooks.length} webhook(s) (${step.from})`,
    );
    return true;
  }

  /** A call, not the field: TypeScript keeps a narrowed field narrowed across an await. */
  #isStopped(): boolean {
    return this.#stopped;
  }

  /** Watches the Secret by name; any change sends the loop round (and so reloads the pair). */
  #startWatch(delayMs: number): void {
    if (this.#stopped) return;
    this.#watchTimer = setTimeout(() => {
      void this.#watch();
    }, delayMs);
    this.#watchTimer.unref();
  }

  async #watch(): Promise<void> {
    const { namespace, secretName } = this.#options;
    let failure: unknown;
    try {
      const client = await this.#options.kube.client();
      if (this.#stopped) return;
      this.#secretWatch = await client.watch(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
        {
          fieldSelector: `metadata.name=${secretName}`,
          allowWatchBookmarks: true,
          resourceVersion: this.#watchResourceVersion,
          timeoutSeconds: WATCH_SECONDS,
        },
        ({ type, object }) => {
          if (type === 'ERROR') {
            // Usually 410 Gone: our resourceVersion is too old; start from now.
            this.#watchResourceVersion = undefined;
            this.#secretWatch?.stop();
            return;
          }
          const metadata = (object as Secret | undefined)?.metadata;
          this.#watchResourceVersion = metadata?.resourceVersion ?? this.#watchResourceVersion;
          if (type !== 'BOOKMARK') this.#trigger(0);
        },
      );
      // stop() may have come while the watch was connecting.
      if (this.#isStopped()) this.#secretWatch.stop();
      failure = await this.#secretWatch.done;
    } catch (error) {
      failure = error;
    }
    this.#secretWatch = undefined;
    if (this.#isStopped()) return;
    if (failure === undefined) {
      // The server ended the watch (timeoutSeconds): routine, open the next one at once.
      this.#watchRetry.reset();
      this.#startWatch(0);
      return;
    }
    const delay = this.#watchRetry.next();
    this.#options.log.warn(
      `watch of ${this.description} failed (retrying in ${String(delay)} ms): ${errorMessage(failure)}`,
    );
    this.#startWatch(delay);
  }
}
