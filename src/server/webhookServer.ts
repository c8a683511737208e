/**
 * `serve` put together: certificates (files, a development pair, or self-managed in the cluster),
 * the namespace cache, audit, metrics, the HTTPS app and the metrics port, and the shutdown that
 * takes them down in order. The CLI (src/cli/serve.ts) only
 * turns flags into `WebhookServerOptions`; tests start the same thing on port 0.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RawConfig } from '../core/config.ts';
import { mutateObject } from '../core/mutateObject.ts';
import { SYSTEM_NAMESPACES, type AdmissionContext } from './admissionHandler.ts';
import { buildApp, TLS_CONTEXT_OPTIONS, type WebhookApp } from './app.ts';
import { createAuditSink } from './audit.ts';
import {
  DAY_MS,
  certificateExpiry,
  ensureCertificateSet,
  generateCertificateSet,
  type CertificateSet,
} from './certificates.ts';
import type { RotationPolicy } from './certificateRotation.ts';
import type { KubeConfigLocation } from './kubeConfig.ts';
import { kubeNamespaceSource } from './kubeNamespaceSource.ts';
import { kubeNodeAddressPublisher } from './nodeAddressPublisher.ts';
import { kubeClusterView } from './kubeRelease.ts';
import { KubeConnection } from './kubeClient.ts';
import { DEFAULT_WEBHOOK_IDENTITY } from '../core/optInGrant.ts';
import type { Logger } from 'pino';
import { createMetrics, createMetricsServer } from './metrics.ts';
import {
  NamespaceCache,
  namespaceAnnotationsOff,
  type NamespaceAnnotationLookup,
  type NamespaceSource,
} from './namespaceCache.ts';
import { SelfManagedCerts } from './selfManagedCerts.ts';
import { drain, trackKeepAlive, trackSockets, type DrainResult } from './shutdown.ts';

/** A keep-alive connection without a request for this long has no client about to use it. */
const KEEP_ALIVE_QUIET_MS = 250;
import { TlsReloader, type TlsFiles } from './tlsReloader.ts';

/** Where `--self-managed-certs` keeps its certificates (see selfManagedCerts.ts). */
export interface SelfManagedCertsConfig {
  namespace: string;
  secretName: string;
  webhookConfigurationName: string;
  policy: RotationPolicy;
  resyncMs?: number;
}

export interface WebhookServerOptions {
  host: string;
  port: number;
  /** The serving pair; without it a CA and pair are made (or reused) in `certDir`. */
  tlsFiles?: TlsFiles;
  /** Instead of `tlsFiles`: a Secret in the cluster (needs `kubeConfig`). */
  selfManagedCerts?: SelfManagedCertsConfig;
  certDir: string;
  /** Extra DNS names and IPs for the development pair made in `certDir`. */
  extraCertificateHosts?: string[];
  metricsHost: string;
  metricsPort: number;
  /** Audit lines go here, or to stdout. */
  auditLog?: string;
  /** Where namespace annotations come from; none turns them off. */
  kubeConfig?: KubeConfigLocation;
  /** Overrides `kubeConfig` with another source of namespaces (tests). */
  namespaceSource?: NamespaceSource;
  defaults: RawConfig;
  /** The webhook's own namespace, never mutated (SPEC §2). */
  ownNamespace?: string;
  /** Keep the node-address ConfigMap in opted-in namespaces (needs `kubeConfig`; default on). */
  publishNodeAddresses?: boolean;
  /**
   * Keep serving, not ready, this long before closing the listener: in a cluster the endpoints
   * controller needs a moment to take the pod out of the Service, and until then new connections
   * still arrive here.
   */
  shutdownDelayMs?: number;
  /** The longest wait for in-flight requests once the listener is closed. */
  shutdownTimeoutMs: number;
  /** Server logs (pino); stdout stays the audit log's. */
  logger: Logger;
  /** The webhook's ServiceAccount (default: the manifests'), named in the grant command. */
  serviceAccount?: string;
  /** Overrides `kubeConfig` as the source of a Service's release (tests). */
  release?: AdmissionContext['release'];
  /** Replaces the mutation core (tests: slow or failing cores). */
  mutate?: AdmissionContext['mutate'];
  tlsPollIntervalMs?: number;
  /** Connection cap and request deadline (defaults in app.ts; tests use smaller ones). */
  maxConnections?: number;
  requestDeadlineMs?: number;
  http2IdleTimeoutMs?: number;
}

export interface RunningWebhookServer {
  app: WebhookApp;
  url: string;
  metricsUrl: string;
  tls: TlsReloader;
  /** Not ready, stop accepting, drain, then close the rest. Safe to call more than once. */
  shutdown(): Promise<DrainResult>;
}

function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function urlOf(scheme: string, address: AddressInfo): string {
  return `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** Names a local client uses, plus the listen address when it is a specific one. */
function devCertificateHosts(host: string): string[] {
  const hosts = ['localhost', '127.0.0.1', '::1'];
  const wildcard = host === '0.0.0.0' || host === '::' || host === '';
  return wildcard || hosts.includes(host) ? hosts : [...hosts, host];
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningWebhookServer> {
  const metrics = createMetrics();

  const log = options.logger;
  const selfManaged = options.selfManagedCerts;
  if (selfManaged && !options.kubeConfig) {
    throw new Error('self-managed certificates need a cluster: --kubeconfig, KUBECONFIG or in-cluster');
  }
  let tlsFiles = options.tlsFiles;
  // The development pair when the certificate directory cannot be written (an image's read-only
  // root, another user's directory): kept in memory, its CA logged for clients to trust.
  let memoryPair: CertificateSet | undefined;
  if (!tlsFiles && !selfManaged) {
    const hosts = [...devCertificateHosts(options.host), ...(options.extraCertificateHosts ?? [])];
    try {
      const dev = await ensureCertificateSet(options.certDir, hosts);
      tlsFiles = { certFile: dev.certFile, keyFile: dev.keyFile };
      log.info(
        `${dev.generated ? 'generated' : 'reusing'} a development certificate in ${options.certDir} (clients trust ${dev.caFile})`,
      );
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A recursive mkdir on a read-only root reports ENOENT.
      if (!['EACCES', 'EROFS', 'EPERM', 'ENOENT'].includes(code ?? '')) throw error;
      memoryPair = await generateCertificateSet({ hosts }, DAY_MS * 365);
      log.info(
        `${options.certDir} is not writable (${code}): a development certificate kept in memory; clients trust this CA:\n${memoryPair.ca.cert}`,
      );
    }
  }
  const source = tlsFiles
    ? tlsFiles.certFile
    : memoryPair
      ? 'memory'
      : `Secret ${selfManaged?.namespace ?? ''}/${selfManaged?.secretName ?? ''}`;
  const reloaderOptions = {
    contextOptions: TLS_CONTEXT_OPTIONS,
    onReload: (pair: { cert: string }) => {
      const expiry = certificateExpiry(pair.cert);
      metrics.setCertificateExpiry(expiry);
      log.info(`serving certificate loaded from ${source}, expires ${expiry.toISOString()}`);
    },
    onError: (error: Error) => {
      log.warn(`serving certificate not reloaded: ${error.message}`);
    },
    ...(options.tlsPollIntervalMs === undefined ? {} : { pollIntervalMs: options.tlsPollIntervalMs }),
  };
  // Self-managed: until the Secret's pair is in, the listener serves a throwaway pair nobody
  // trusts, so probes get answers and /readyz can say what it is waiting for.
  const tls = tlsFiles
    ? await TlsReloader.load(tlsFiles, reloaderOptions)
    : memoryPair
      ? TlsReloader.fromPair(memoryPair.serving, reloaderOptions)
      : TlsReloader.fromPair(
          (await generateCertificateSet({ hosts: selfManaged?.policy.hosts ?? ['localhost'] }, DAY_MS))
            .serving,
          reloaderOptions,
        );
  // One client for everything below that talks to the API server.
  const kube = options.kubeConfig ? new KubeConnection(options.kubeConfig) : undefined;
  const certificates =
    selfManaged && kube
      ? new SelfManagedCerts({
          kube,
          namespace: selfManaged.namespace,
          secretName: selfManaged.secretName,
          webhookConfigurationName: selfManaged.webhookConfigurationName,
          policy: selfManaged.policy,
          install: (pair) => {
            tls.install(pair);
          },
          log,
          ...(selfManaged.resyncMs === undefined ? {} : { resyncMs: selfManaged.resyncMs }),
        })
      : undefined;

  const namespaceSource = options.namespaceSource ?? (kube ? kubeNamespaceSource(kube, log) : undefined);
  const cache = namespaceSource ? new NamespaceCache(namespaceSource) : undefined;
  const namespaces: NamespaceAnnotationLookup = cache ?? namespaceAnnotationsOff;
  log.info(
    cache
      ? `namespace annotations from ${cache.description}`
      : 'namespace annotations off: no --kubeconfig, no KUBECONFIG and not in a cluster',
  );
  cache?.start();
  const protectedNamespaces = new Set<string>([
    ...SYSTEM_NAMESPACES,
    ...(options.ownNamespace ? [options.ownNamespace] : []),
  ]);
  const nodeAddresses =
    kube && options.publishNodeAddresses !== false
      ? await kubeNodeAddressPublisher(kube, log, protectedNamespaces)
      : undefined;
  if (nodeAddresses) log.info(`node addresses published as ${nodeAddresses.description}`);
  // The release records of opted-in namespaces and the node ports Services hold, from watches.
  const clusterView = kube && !options.release ? kubeClusterView(kube, log) : undefined;
  if (clusterView) {
    log.info(
      "a Kafka Service's release is read from its Helm release record (watched in opted-in namespaces), else the namespace's objects; node ports held from a watch of every Service",
    );
  }

  let draining = false;
  const audit = createAuditSink(options.auditLog, (error) => {
    log.error(`audit log: ${error.message}`);
  });
  const app = buildApp({
    tls: tls.current,
    admission: {
      defaults: options.defaults,
      namespaces,
      protectedNamespaces,
      mutate: options.mutate ?? mutateObject,
      ...(options.release ? { release: options.release } : {}),
      ...(clusterView ? { release: clusterView.release, nodePorts: clusterView.nodePorts } : {}),
      ...(options.ownNamespace
        ? {
            identity: {
              namespace: options.ownNamespace,
              serviceAccount: options.serviceAccount ?? DEFAULT_WEBHOOK_IDENTITY.serviceAccount,
            },
          }
        : {}),
    },
    audit,
    metrics,
    notReadyReasons: () => [
      ...(draining ? ['shutting down'] : []),
      // Certificate files are loaded before the app exists; a Secret may still be on its way.
      ...(certificates && !certificates.loaded
        ? [`serving certificate from ${certificates.description} not loaded yet`]
        : []),
      ...(namespaces.ready ? [] : ['namespace cache not synced yet']),
      ...(clusterView && !clusterView.nodePorts.ready ? ['Service cache not synced yet'] : []),
    ],
    draining: () => draining,
    logger: log,
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.requestDeadlineMs === undefined ? {} : { requestDeadlineMs: options.requestDeadlineMs }),
    ...(options.http2IdleTimeoutMs === undefined ? {} : { http2IdleTimeoutMs: options.http2IdleTimeoutMs }),
  });

  const sockets = trackSockets(app.server);
  const keepAlive = trackKeepAlive(app.server);
  const metricsServer = createMetricsServer(metrics.registry);
  const closeMetrics = (): Promise<void> =>
    new Promise((resolve) => {
      metricsServer.close(() => {
        resolve();
      });
      // A scrape in progress is not worth waiting for.
      metricsServer.closeAllConnections();
    });
  let url: string;
  let metricsUrl: string;
  try {
    const metricsAddress = await listenOn(metricsServer, options.metricsHost, options.metricsPort);
    metricsUrl = `${urlOf('http', metricsAddress)}/metrics`;
    await app.listen({ host: options.host, port: options.port });
    url = urlOf('https', app.server.address() as AddressInfo);
  } catch (error) {
    // A port in use must end `serve`, not leave the other listener and the watch running.
    await Promise.allSettled([
      app.close(),
      closeMetrics(),
      cache?.stop(),
      nodeAddresses?.stop(),
      clusterView?.stop(),
    ]);
    tls.close();
    throw error;
  }
  tls.watch(app.server);
  // After watch(): every pair from the Secret must reach the listening server.
  certificates?.start();
  log.info(`serving ${url}/mutate (TLS 1.2+, HTTP/2 and HTTP/1.1); metrics on ${metricsUrl}`);
  log.info(`audit log to ${options.auditLog ?? 'stdout'}`);

  let stopping: Promise<DrainResult> | undefined;
  const shutdown = (): Promise<DrainResult> => {
    stopping ??= (async () => {
      draining = true;
      if (options.shutdownDelayMs)
        await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
      // Stop accepting (a new connection is closed at once, before any request is on it) while
      // keep-alive clients, told `Connection: close`, leave by themselves: the listener's own
      // close would close their connections at once, racing their next request.
      app.server.maxConnections = 0;
      await keepAlive.quiet(KEEP_ALIVE_QUIET_MS, options.shutdownTimeoutMs);
      const result = await drain(() => app.close(), sockets, options.shutdownTimeoutMs);
      tls.close();
      await Promise.all([
        cache?.stop(),
        nodeAddresses?.stop(),
        clusterView?.stop(),
        certificates?.stop(),
        audit.close(),
        closeMetrics(),
      ]);
      log.info(
        `stopped after ${result.durationMs} ms: ${result.drained ? 'all requests answered' : `${result.cut} connections cut`}`,
      );
      return result;
    })();
    return stopping;
  };
  return { app, url, metricsUrl, tls, shutdown };
}
