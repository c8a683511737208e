/** `certs`: a CA and a serving certificate for the webhook's Service, written for a TLS Secret. */
import type { Command } from 'commander';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  CERT_FILES,
  generateCertificateSet,
  serviceDnsNames,
  writeCertificateSet,
} from '../server/certificates.ts';

interface CertsFlags {
  service: string;
  namespace: string;
  ip: string[];
  dns?: string[];
  out: string;
}

function list(values: string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

export function registerCertsCommand(program: Command): void {
  program
    .command('certs')
    .description('write a CA and a serving certificate signed by it (ca.crt, ca.key, tls.crt, tls.key)')
    .option('--service <name>', 'the webhook Service', 'kafka-nodeport-injector')
    .option('--namespace <ns>', "the Service's namespace", 'kafka-nodeport-injector')
    .option('--ip <ip...>', 'IP addresses to include (comma-separated or repeated)', ['127.0.0.1'])
    .option('--dns <name...>', 'extra DNS names to include')
    .option('--out <dir>', 'directory to write to', 'certs')
    .action(async (flags: CertsFlags) => {
      const ips = list(flags.ip);
      const bad = ips.find((ip) => isIP(ip) === 0);
      if (bad !== undefined) throw new Error(`--ip: ${JSON.stringify(bad)} is not an IP address`);
      const hosts = [
        ...serviceDnsNames(flags.service, flags.namespace),
        ...list(flags.dns),
        'localhost',
        ...ips,
      ];
      await writeCertificateSet(flags.out, await generateCertificateSet({ hosts }));
      const written = Object.values(CERT_FILES).map((file) => join(flags.out, file));
      process.stdout.write(
        `wrote ${written.join(', ')}\nserving certificate for ${[...new Set(hosts)].join(', ')}\n`,
      );
    });
}
