/** `serve`: flags to `startWebhookServer`, and signals to its graceful shutdown. */
import { Option, type Command } from 'commander';
import { isIP } from 'node:net';
import { pino } from 'pino';
import { serviceDnsNames } from '../server/certificates.ts';
import type { RotationPolicy } from '../server/certificateRotation.ts';
import { findKubeConfig, ownNamespace } from '../server/kubeConfig.ts';
import { exitOnSignals } from '../server/shutdown.ts';
import { startWebhookServer, type SelfManagedCertsConfig } from '../server/webhookServer.ts';
import { addConfigOptions, rawConfigFromFlags, type ConfigFlags } from './options.ts';

interface ServeFlags extends ConfigFlags {
  host: string;
  port: string;
  tlsCert?: string;
  tlsKey?: string;
  certDir: string;
  selfManagedCerts?: boolean;
  service: string;
  namespace?: string;
  serviceAccount?: string;
  secret: string;
  webhookConfiguration: string;
  certValidity: string;
  caPropagationDelay: string;
  caGracePeriod: string;
  certDns?: string[];
  certIp?: string[];
  metricsHost: string;
  metricsPort: string;
  auditLog?: string;
  kubeconfig?: string;
  shutdownDelay: string;
  shutdownTimeout: string;
  /** `--no-node-addresses` sets it false. */
  nodeAddresses: boolean;
  logLevel: string;
}

function port(value: string, flag: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65535)
    throw new Error(`${flag}: expected a port number 0-65535, got ${JSON.stringify(value)}`);
  return parsed;
}

function seconds(value: string, flag: string, positive = false): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0 || (positive && parsed === 0))
    throw new Error(
      `${flag}: expected ${positive ? 'a positive' : 'a non-negative'} number of seconds, got ${JSON.stringify(value)}`,
    );
  return parsed;
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `10m`, `8760h`, `365d` (a bare number is seconds). */
export function duration(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = match?.[1] === undefined ? NaN : Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? 's'] ?? NaN);
  if (!Number.isFinite(ms))
    throw new Error(
      `${flag}: expected a duration such as 90s, 10m, 8760h or 365d, got ${JSON.stringify(value)}`,
    );
  return ms;
}

function list(values: string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** The hosts of the self-managed serving certificate and how it rotates, from the flags. */
export function rotationPolicy(
  flags: Pick<
    ServeFlags,
    'service' | 'certDns' | 'certIp' | 'certValidity' | 'caPropagationDelay' | 'caGracePeriod'
  >,
  namespace: string,
): RotationPolicy {
  const ips = list(flags.certIp);
  const bad = ips.find((ip) => isIP(ip) === 0);
  if (bad !== undefined) throw new Error(`--cert-ip: ${JSON.stringify(bad)} is not an IP address`);
  const policy = {
    hosts: [...new Set([...serviceDnsNames(flags.service, namespace), ...list(flags.certDns), ...ips])],
    validityMs: duration(flags.certValidity, '--cert-validity'),
    propagationDelayMs: duration(flags.caPropagationDelay, '--ca-propagation-delay'),
    graceMs: duration(flags.caGracePeriod, '--ca-grace-period'),
  };
  // Renewal starts with a third of the lifetime left; the whole rotation must fit in it.
  if (policy.propagationDelayMs + policy.graceMs >= policy.validityMs / 3) {
    throw new Error(
      `--cert-validity ${flags.certValidity} is too short: a third of it must exceed --ca-propagation-delay + --ca-grace-period`,
    );
  }
  return policy;
}

export function registerServeCommand(program: Command): void {
  addConfigOptions(
    program
      .command('serve')
      .description(
        'run the admission webhook: HTTPS POST /mutate, /healthz, /readyz; Prometheus /metrics on a plain port',
      )
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'HTTPS port', '8443')
      .option('--tls-cert <file>', 'serving certificate (PEM); watched and reloaded on change')
      .option('--tls-key <file>', 'its private key (PEM); watched and reloaded on change')
      .option(
        '--cert-dir <dir>',
        'without --tls-cert/--tls-key: where a development CA and pair are made',
        'certs',
      )
      .option(
        '--self-managed-certs',
        "keep a CA and serving certificate in a Secret, set the webhook configuration's caBundle, rotate both (needs cluster access)",
      )
      .option(
        '--service <name>',
        'with --self-managed-certs: the webhook Service (certificate names)',
        'kafka-nodeport-injector',
      )
      .addOption(
        new Option(
          '--namespace <ns>',
          "the webhook's own namespace: never mutated; holds the Secret (default: the pod's namespace)",
        ).env('POD_NAMESPACE'),
      )
      .addOption(
        new Option(
          '--service-account <name>',
          "the webhook's ServiceAccount, named in the command that grants it a namespace's reads (default: kafka-nodeport-injector)",
        ).env('POD_SERVICE_ACCOUNT'),
      )
      .option('--secret <name>', 'with --self-managed-certs: the TLS Secret', 'kafka-nodeport-injector-tls')
      .option(
        '--webhook-configuration <name>',
        'with --self-managed-certs: the MutatingWebhookConfiguration whose caBundle is kept',
        'kafka-nodeport-injector',
      )
      .option(
        '--cert-dns <name...>',
        'extra DNS names for the serving certificate (comma-separated or repeated)',
      )
      .option(
        '--cert-ip <ip...>',
        'extra IP addresses for the serving certificate (comma-separated or repeated)',
      )
      .option(
        '--cert-validity <duration>',
        'with --self-managed-certs: lifetime of a CA and serving certificate; renewed at 2/3 of it',
        '365d',
      )
      .option(
        '--ca-propagation-delay <duration>',
        'with --self-managed-certs: wait between trusting a new CA (caBundle) and serving with it',
        '30s',
      )
      .option(
        '--ca-grace-period <duration>',
        'with --self-managed-certs: keep trusting the previous CA this long after the switch',
        '5m',
      )
      .option('--metrics-host <host>', 'address of the plain-HTTP metrics port', '127.0.0.1')
      .option('--metrics-port <port>', 'plain-HTTP port of GET /metrics', '9090')
      .option('--audit-log <file>', 'append audit lines here instead of stdout')
      .addOption(
        new Option(
          '--kubeconfig <file>',
          'cluster to read namespace annotations (and keep self-managed certificates) from (else KUBECONFIG, else in-cluster)',
        ),
      )
      .option(
        '--shutdown-delay <seconds>',
        'on SIGTERM, keep serving (not ready) this long before closing; a few seconds in a cluster',
        '0',
      )
      .option('--shutdown-timeout <seconds>', 'then the longest wait for in-flight requests', '10')
      .option(
        '--no-node-addresses',
        'do not keep the node-address ConfigMap (address-type other than InternalIP) in opted-in namespaces',
      )
      .addOption(
        new Option('--log-level <level>', 'server log level (stderr)')
          .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
      ),
  ).action(async (flags: ServeFlags) => {
    if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
      throw new Error('--tls-cert and --tls-key go together');
    }
    if (flags.selfManagedCerts && flags.tlsCert) {
      throw new Error('--self-managed-certs and --tls-cert/--tls-key exclude each other');
    }
    const defaults = rawConfigFromFlags(flags);
    const kubeConfig = findKubeConfig(flags.kubeconfig);
    const namespace = flags.namespace ?? ownNamespace();
    let selfManagedCerts: SelfManagedCertsConfig | undefined;
    if (flags.selfManagedCerts) {
      if (!kubeConfig)
        throw new Error('--self-managed-certs needs a cluster: --kubeconfig, KUBECONFIG or in-cluster');
      if (!namespace) throw new Error('--self-managed-certs needs --namespace (or POD_NAMESPACE)');
      selfManagedCerts = {
        namespace,
        secretName: flags.secret,
        webhookConfigurationName: flags.webhookConfiguration,
        policy: rotationPolicy(flags, namespace),
      };
    }
    // stderr: stdout carries the audit log, one JSON line per decision and nothing else.
    const logger = pino({ level: flags.logLevel }, process.stderr);
    const server = await startWebhookServer({
      host: flags.host,
      port: port(flags.port, '--port'),
      ...(flags.tlsCert && flags.tlsKey
        ? { tlsFiles: { certFile: flags.tlsCert, keyFile: flags.tlsKey } }
        : {}),
      ...(selfManagedCerts ? { selfManagedCerts } : {}),
      extraCertificateHosts: [...list(flags.certDns), ...list(flags.certIp)],
      certDir: flags.certDir,
      metricsHost: flags.metricsHost,
      metricsPort: port(flags.metricsPort, '--metrics-port'),
      ...(flags.auditLog ? { auditLog: flags.auditLog } : {}),
      ...(kubeConfig ? { kubeConfig } : {}),
      ...(namespace ? { ownNamespace: namespace } : {}),
      ...(flags.serviceAccount ? { serviceAccount: flags.serviceAccount } : {}),
      publishNodeAddresses: flags.nodeAddresses,
      defaults,
      shutdownDelayMs: seconds(flags.shutdownDelay, '--shutdown-delay') * 1000,
      shutdownTimeoutMs: seconds(flags.shutdownTimeout, '--shutdown-timeout', true) * 1000,
      logger,
    });
    exitOnSignals(async () => {
      await server.shutdown();
    }, logger);
  });
}
