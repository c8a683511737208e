/**
 * Every certificate the webhook needs, made in one place: `serve`'s default pair, the `certs`
 * command, and self-managed certificates in the cluster (selfManagedCerts.ts) all call these
 * functions, so they agree on key type, validity and SANs.
 *
 * EC P-256 with SHA-256: accepted by the API server's webhook client, and generated in
 * milliseconds where RSA takes noticeably longer — it matters when `serve` creates a pair at start.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** `selfsigned` (with node-forge, ~8 MiB) is loaded only when a certificate is made, not to serve files. */
function selfsigned(): Promise<typeof import('selfsigned')> {
  return import('selfsigned');
}

export interface PemPair {
  cert: string;
  key: string;
}

export interface CertificateSet {
  ca: PemPair;
  serving: PemPair;
}

export interface ServingIdentity {
  /** DNS names and IP addresses the certificate is valid for; the first one is the common name. */
  hosts: string[];
}

export const DAY_MS = 24 * 60 * 60 * 1000;
export const CA_VALIDITY_DAYS = 5 * 365;
export const SERVING_VALIDITY_DAYS = 365;
/** Backdated so a node whose clock is a little behind still accepts a certificate made just now. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** File names of a `kubernetes.io/tls` Secret, so a directory can be mounted from one unchanged. */
export const CERT_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
} as const;

/** The names the API server uses to reach a Service-backed webhook. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

function validity(days: number): { notBeforeDate: Date; notAfterDate: Date } {
  const now = Date.now();
  return { notBeforeDate: new Date(now - CLOCK_SKEW_MS), notAfterDate: new Date(now + days * DAY_MS) };
}

/**
 * Each CA gets its own subject (`<name>@<unix time>-<random>`, as client-go names its self-signed
 * CAs). While a caBundle holds the old and the new CA during a rotation, a verifier picks the
 * issuer by subject name — `selfsigned` writes no key identifiers — so two CAs with one name would
 * make every certificate of one of them fail its signature check.
 */
export async function generateCertificateAuthority(
  name = 'kafka-nodeport-injector-ca',
  days = CA_VALIDITY_DAYS,
): Promise<PemPair> {
  const commonName = `${name}@${Math.floor(Date.now() / 1000)}-${randomBytes(3).toString('hex')}`;
  const { generate } = await selfsigned();
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ...validity(days),
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** A serving certificate for `identity.hosts`, signed by `ca`. */
export async function generateServingCertificate(
  ca: PemPair,
  identity: ServingIdentity,
  days = SERVING_VALIDITY_DAYS,
): Promise<PemPair> {
  const hosts = [...new Set(identity.hosts)];
  if (hosts.length === 0) throw new Error('a serving certificate needs at least one host name or IP');
  const { generate } = await selfsigned();
  const pems = await generate([{ name: 'commonName', value: hosts[0] ?? '' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ...validity(days),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: hosts.map((host) =>
          isIP(host) ? { type: 7 as const, ip: host } : { type: 2 as const, value: host },
        ),
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/**
 * A new CA and a serving certificate signed by it. `validityMs` sets both lifetimes (default: the
 * CA's and the serving certificate's defaults); fractions of a day are fine.
 */
export async function generateCertificateSet(
  identity: ServingIdentity,
  validityMs?: number,
): Promise<CertificateSet> {
  const days = validityMs === undefined ? undefined : validityMs / DAY_MS;
  const ca = await generateCertificateAuthority(undefined, days);
  return { ca, serving: await generateServingCertificate(ca, identity, days) };
}

/** Writes the set as ca.crt, ca.key, tls.crt, tls.key; keys are readable by the owner only. */
export async function writeCertificateSet(dir: string, set: CertificateSet): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, CERT_FILES.caCert), set.ca.cert);
  await writeFile(join(dir, CERT_FILES.caKey), set.ca.key, { mode: 0o600 });
  // The key before the certificate: a watcher that sees the new certificate then finds its key.
  await writeFile(join(dir, CERT_FILES.key), set.serving.key, { mode: 0o600 });
  await writeFile(join(dir, CERT_FILES.cert), set.serving.cert);
}

/** The DNS names and IP addresses the first certificate in `pem` is valid for. */
export function certificateHosts(pem: string): string[] {
  const sans = new X509Certificate(pem).subjectAltName ?? '';
  return sans
    .split(', ')
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
    .filter((host): host is string => host !== undefined);
}

/** When the first certificate in `pem` (the leaf) stops being valid. */
export function certificateExpiry(pem: string): Date {
  return new Date(new X509Certificate(pem).validTo);
}

/**
 * Why a serving pair should not be used (unparsable, key does not match, expired or about to, or
 * not valid for one of `hosts`), or undefined when it is fine.
 */
export function servingPairProblem(pair: PemPair, hosts: string[], minRemainingMs = 0): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
    if (!cert.checkPrivateKey(createPrivateKey(pair.key)))
      return 'the key does not belong to the certificate';
  } catch (error) {
    return `unreadable: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (new Date(cert.validTo).getTime() - Date.now() <= minRemainingMs) return `it expires ${cert.validTo}`;
  const missing = hosts.find((host) => (isIP(host) ? !cert.checkIP(host) : !cert.checkHost(host)));
  return missing === undefined ? undefined : `it is not valid for ${missing}`;
}

export interface DevCertificatePaths {
  certFile: string;
  keyFile: string;
  caFile: string;
  generated: boolean;
}

/**
 * `serve` with no TLS flags: reuse the pair in `dir` while it is valid for `hosts` for at least
 * another day (so a client that trusts `ca.crt` keeps working across restarts), otherwise write a
 * fresh CA and pair.
 */
export async function ensureCertificateSet(dir: string, hosts: string[]): Promise<DevCertificatePaths> {
  const paths = {
    certFile: join(dir, CERT_FILES.cert),
    keyFile: join(dir, CERT_FILES.key),
    caFile: join(dir, CERT_FILES.caCert),
  };
  const existing = await Promise.all([
    readFile(paths.certFile, 'utf8'),
    readFile(paths.keyFile, 'utf8'),
  ]).catch(() => undefined);
  if (existing && servingPairProblem({ cert: existing[0], key: existing[1] }, hosts, DAY_MS) === undefined) {
    return { ...paths, generated: false };
  }
  await writeCertificateSet(dir, await generateCertificateSet({ hosts }));
  return { ...paths, generated: true };
}
