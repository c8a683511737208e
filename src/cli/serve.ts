/** `serve`: flags to `startWebhookServer`, and signals to its graceful shutdown. */
import { Option, type Command } from 'commander';
import { pino } from 'pino';
import { findKubeConfig, ownNamespace } from '../server/kubeConfig.ts';
import { exitOnSignals } from '../server/shutdown.ts';
import { startWebhookServer } from '../server/webhookServer.ts';
import { addConfigOptions, rawConfigFromFlags, type ConfigFlags } from './options.ts';

interface ServeFlags extends ConfigFlags {
  host: string;
  port: string;
  tlsCert?: string;
  tlsKey?: string;
  certDir: string;
  metricsHost: string;
  metricsPort: string;
  auditLog?: string;
  kubeconfig?: string;
  shutdownDelay: string;
  shutdownTimeout: string;
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
      .option('--metrics-host <host>', 'address of the plain-HTTP metrics port', '127.0.0.1')
      .option('--metrics-port <port>', 'plain-HTTP port of GET /metrics', '9090')
      .option('--audit-log <file>', 'append audit lines here instead of stdout')
      .addOption(
        new Option(
          '--kubeconfig <file>',
          'cluster to read namespace annotations from (else KUBECONFIG, else in-cluster)',
        ),
      )
      .option(
        '--shutdown-delay <seconds>',
        'on SIGTERM, keep serving (not ready) this long before closing; a few seconds in a cluster',
        '0',
      )
      .option('--shutdown-timeout <seconds>', 'then the longest wait for in-flight requests', '10')
      .addOption(
        new Option('--log-level <level>', 'server log level (stderr)')
          .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
      ),
  ).action(async (flags: ServeFlags) => {
    if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
      throw new Error('--tls-cert and --tls-key go together');
    }
    const defaults = rawConfigFromFlags(flags);
    // stderr: stdout carries the audit log, one JSON line per decision and nothing else.
    const logger = pino({ level: flags.logLevel }, process.stderr);
    const kubeConfig = findKubeConfig(flags.kubeconfig);
    const namespace = ownNamespace();
    const server = await startWebhookServer({
      host: flags.host,
      port: port(flags.port, '--port'),
      ...(flags.tlsCert && flags.tlsKey
        ? { tlsFiles: { certFile: flags.tlsCert, keyFile: flags.tlsKey } }
        : {}),
      certDir: flags.certDir,
      metricsHost: flags.metricsHost,
      metricsPort: port(flags.metricsPort, '--metrics-port'),
      ...(flags.auditLog ? { auditLog: flags.auditLog } : {}),
      ...(kubeConfig ? { kubeConfig } : {}),
      ...(namespace ? { ownNamespace: namespace } : {}),
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
