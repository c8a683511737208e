/** A real webhook server on 127.0.0.1 with ephemeral ports, for tests of what only a socket shows. */
import { join } from 'node:path';
import { pino } from 'pino';
import { writeCertificateSet, type CertificateSet } from '../../src/server/certificates.ts';
import {
  startWebhookServer,
  type RunningWebhookServer,
  type WebhookServerOptions,
} from '../../src/server/webhookServer.ts';
import { tempDir, testCertificates } from './helpers.ts';

export interface TestServer {
  server: RunningWebhookServer;
  certificates: CertificateSet;
  certDir: string;
  stop: () => Promise<void>;
}

export async function startTestServer(options: Partial<WebhookServerOptions> = {}): Promise<TestServer> {
  const { dir, remove } = tempDir('server');
  const certificates = await testCertificates();
  await writeCertificateSet(dir, certificates);
  const server = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    tlsFiles: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
    certDir: dir,
    metricsHost: '127.0.0.1',
    metricsPort: 0,
    auditLog: join(dir, 'audit.log'),
    defaults: {},
    shutdownTimeoutMs: 5000,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  return {
    server,
    certificates,
    certDir: dir,
    stop: async () => {
      await server.shutdown();
      remove();
    },
  };
}
