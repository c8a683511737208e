/**
 * Self-managed TLS, the decisions: what the certificate Secret should hold next, and when. Pure —
 * no I/O, the clock passed in — so every step of a rotation is testable without a cluster;
 * selfManagedCerts.ts does the reading, writing and waiting.
 *
 * The Secret (type `kubernetes.io/tls`) is the single source of truth, shared by every replica:
 *
 *   tls.crt, tls.key   the serving pair every replica serves
 *   ca.crt             the CA that signed it (its key is thrown away: each rotation makes a new CA)
 *   ca-bundle.crt      what the webhook configuration's caBundle must be
 *   next-tls.crt, next-tls.key, next-ca.crt   a staged pair, only during a rotation
 *
 * A rotation never leaves the API server trusting a CA that no replica serves with, nor a
 * replica serving a certificate the API server does not trust:
 *
 *   1. stage    a new CA and pair go to next-*, ca-bundle.crt = old CA + new CA
 *   2. publish  the caBundle of every webhook entry is set to ca-bundle.crt
 *   3. promote  once the publication is `propagationDelay` old (the API server loads webhook
 *               configurations asynchronously): tls.crt/tls.key = the new pair, ca.crt = new CA
 *   4. drop     `grace` after promotion (every replica has reloaded from the Secret by then):
 *               ca-bundle.crt = new CA only, published again
 *
 * Replicas race on every step; writes carry the resourceVersion they read, so one wins and the
 * others re-read and find the step done. The webhook configuration records which Secret
 * (uid) and which bundle generation it was published from, so a replica acting on a stale read of
 * the Secret never puts an older bundle back.
 */
import { X509Certificate } from 'node:crypto';
import {
  CLOCK_SKEW_MS,
  certificateHosts,
  servingPairProblem,
  type CertificateSet,
  type PemPair,
} from './certificates.ts';

export const SECRET_KEYS = {
  cert: 'tls.crt',
  key: 'tls.key',
  caCert: 'ca.crt',
  bundle: 'ca-bundle.crt',
  nextCert: 'next-tls.crt',
  nextKey: 'next-tls.key',
  nextCaCert: 'next-ca.crt',
} as const;

const PREFIX = 'kafka-nodeport-injector/';
export const ROTATION_ANNOTATIONS = {
  /** Set by a person (any value) to ask for a rotation now; removed when it is staged. */
  rotate: `${PREFIX}rotate`,
  /** On the Secret: counts changes of ca-bundle.crt. */
  generation: `${PREFIX}ca-bundle-generation`,
  /** On the Secret, after a promotion: when the previous CA may leave the bundle. */
  previousCaUntil: `${PREFIX}previous-ca-until`,
  /** On the webhook configuration: `<Secret uid>/<generation>` its caBundle came from. */
  bundleFrom: `${PREFIX}ca-bundle-from`,
  /** On the webhook configuration: when that caBundle was written. */
  publishedAt: `${PREFIX}ca-bundle-published-at`,
} as const;

/** A Secret's data (PEM text, decoded) and what of its metadata the decisions need. */
export interface TlsSecret {
  uid: string;
  data: Record<string, string>;
  annotations: Record<string, string>;
}

/** The webhook configuration as far as the caBundle goes; one bundle (decoded) per webhook entry. */
export interface PublishedBundle {
  bundles: string[];
  annotations: Record<string, string>;
}

export interface RotationPolicy {
  /** DNS names and IPs the serving certificate must cover. */
  hosts: string[];
  /** Lifetime of a new CA and serving certificate. */
  validityMs: number;
  /** Time from publishing a caBundle to serving with its new CA. */
  propagationDelayMs: number;
  /** Time from promoting a new pair to removing the previous CA from the caBundle. */
  graceMs: number;
}

export type RotationStep =
  /** No usable Secret content: a fresh CA and pair, trusted and served at once. */
  | { kind: 'replace'; reason: string }
  /** Write `bundle` into every webhook entry's caBundle. */
  | { kind: 'publish'; bundle: string; from: string }
  /** Stage a new CA and pair for `hosts`. */
  | { kind: 'stage'; reason: string; hosts: string[] }
  | { kind: 'promote' }
  | { kind: 'drop-previous-ca' }
  /** Nothing to do before `until` (undefined: until something changes). */
  | { kind: 'wait'; until: Date | undefined; reason: string };

/** Fraction of a certificate's lifetime after which it is renewed. */
export const RENEW_AT_FRACTION = 2 / 3;

const CERTIFICATE_PATTERN = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, each normalised to end with one newline. */
export function splitBundle(pem: string | undefined): string[] {
  return [...(pem ?? '').matchAll(CERTIFICATE_PATTERN)].map((match) => `${match[0]}\n`);
}

/** `certs` as one bundle, in order, without duplicates. */
export function joinBundle(...certs: string[]): string {
  return [...new Set(certs.flatMap((pem) => splitBundle(pem)))].join('');
}

function sameBundle(a: string | undefined, b: string | undefined): boolean {
  const left = new Set(splitBundle(a));
  const right = new Set(splitBundle(b));
  return left.size === right.size && [...left].every((cert) => right.has(cert));
}

function pair(secret: TlsSecret, certKey: string, keyKey: string): PemPair | undefined {
  const cert = secret.data[certKey];
  const key = secret.data[keyKey];
  return cert && key ? { cert, key } : undefined;
}

/** The pair the Secret says to serve, when it is one (parsable, key matches, not expired). */
export function servingPair(secret: TlsSecret): PemPair | undefined {
  const current = pair(secret, SECRET_KEYS.cert, SECRET_KEYS.key);
  return current && servingPairProblem(current, []) === undefined ? current : undefined;
}

export function generationOf(secret: TlsSecret): number {
  const value = Number(secret.annotations[ROTATION_ANNOTATIONS.generation]);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function bundleSource(secret: TlsSecret): string {
  return `${secret.uid}/${generationOf(secret)}`;
}

function parseFrom(value: string | undefined): { uid: string; generation: number } | undefined {
  const match = /^(.+)\/(\d+)$/.exec(value ?? '');
  return match?.[1] && match[2] ? { uid: match[1], generation: Number(match[2]) } : undefined;
}

function parseTime(value: string | undefined): Date | undefined {
  const time = value === undefined ? NaN : Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time);
}

/**
 * When a pair is due for renewal: at 2/3 of its lifetime, counted from when it was made (our
 * certificates are backdated by CLOCK_SKEW_MS), and at most 2/3 of `validityMs` — so shortening
 * `--cert-validity` takes effect without waiting out a long-lived certificate.
 */
export function renewalTime(certs: string[], validityMs: number): Date {
  let renewAt = Infinity;
  for (const pem of certs) {
    const cert = new X509Certificate(pem);
    const issued = Date.parse(cert.validFrom) + CLOCK_SKEW_MS;
    const lifetime = Math.min(Date.parse(cert.validTo) - issued, validityMs);
    renewAt = Math.min(renewAt, issued + RENEW_AT_FRACTION * lifetime);
  }
  return new Date(renewAt);
}

/**
 * The one next step for this replica, given the Secret and the webhook configuration as just read
 * (`webhook` undefined: the configuration does not exist, so nothing can be published).
 */
export function nextStep(
  secret: TlsSecret,
  webhook: PublishedBundle | undefined,
  policy: RotationPolicy,
  now: Date,
): RotationStep {
  const current = servingPair(secret);
  const caCert = secret.data[SECRET_KEYS.caCert];
  const bundle = secret.data[SECRET_KEYS.bundle];
  if (!current) return { kind: 'replace', reason: 'the Secret holds no usable serving pair' };
  if (!caCert || splitBundle(caCert).length === 0)
    return { kind: 'replace', reason: 'the Secret holds no CA' };
  if (!splitBundle(bundle).includes(splitBundle(caCert)[0] ?? '')) {
    return { kind: 'replace', reason: "the Secret's CA bundle does not trust its own CA" };
  }

  // 2. publish
  let published = false;
  if (webhook) {
    const from = parseFrom(webhook.annotations[ROTATION_ANNOTATIONS.bundleFrom]);
    const source = bundleSource(secret);
    const upToDate =
      from?.uid === secret.uid &&
      from.generation === generationOf(secret) &&
      webhook.bundles.every((b) => sameBundle(b, bundle));
    if (from?.uid === secret.uid && from.generation > generationOf(secret)) {
      // Another replica published from a newer version of this Secret than we read.
      return {
        kind: 'wait',
        until: new Date(now.getTime() + 1000),
        reason: 'our read of the Secret is stale',
      };
    }
    if (!upToDate) return { kind: 'publish', bundle: joinBundle(bundle ?? ''), from: source };
    published = true;
  }

  // 3. promote
  const next = pair(secret, SECRET_KEYS.nextCert, SECRET_KEYS.nextKey);
  const nextCa = secret.data[SECRET_KEYS.nextCaCert];
  const staged =
    next !== undefined &&
    nextCa !== undefined &&
    servingPairProblem(next, []) === undefined &&
    splitBundle(bundle).includes(splitBundle(nextCa)[0] ?? '');
  if (staged) {
    if (!published) return { kind: 'wait', until: undefined, reason: 'the new CA is not published yet' };
    const publishedAt = parseTime(webhook?.annotations[ROTATION_ANNOTATIONS.publishedAt]) ?? now;
    const promoteAt = new Date(publishedAt.getTime() + policy.propagationDelayMs);
    if (now >= promoteAt) return { kind: 'promote' };
    return { kind: 'wait', until: promoteAt, reason: 'the API server may not trust the new CA yet' };
  }

  // 4. drop the previous CA
  const previousUntil = parseTime(secret.annotations[ROTATION_ANNOTATIONS.previousCaUntil]);
  if (previousUntil || splitBundle(bundle).length > 1) {
    const until = previousUntil ?? now;
    if (now >= until) return { kind: 'drop-previous-ca' };
    return { kind: 'wait', until, reason: 'replicas may still serve the previous certificate' };
  }

  // 5. stage a rotation when asked, when due, or when the certificate lacks a host
  const servedHosts = certificateHosts(current.cert);
  const missing = policy.hosts.filter((host) => servingPairProblem(current, [host]) !== undefined);
  const renewAt = renewalTime([current.cert, caCert], policy.validityMs);
  if (secret.annotations[ROTATION_ANNOTATIONS.rotate] !== undefined) {
    return {
      kind: 'stage',
      reason: `asked for by the annotation ${ROTATION_ANNOTATIONS.rotate}`,
      hosts: policy.hosts,
    };
  }
  if (now >= renewAt) {
    return { kind: 'stage', reason: `due since ${renewAt.toISOString()}`, hosts: policy.hosts };
  }
  if (missing.length > 0) {
    // Kept: a replica of an older rollout may still want them.
    return {
      kind: 'stage',
      reason: `it is not valid for ${missing.join(', ')}`,
      hosts: [...new Set([...policy.hosts, ...servedHosts])],
    };
  }
  return { kind: 'wait', until: renewAt, reason: 'renewal' };
}

/** The content of a Secret, new or replaced: `set` trusted and served at once. */
export function freshContent(set: CertificateSet, generation: number): Omit<TlsSecret, 'uid'> {
  return {
    data: {
      [SECRET_KEYS.cert]: set.serving.cert,
      [SECRET_KEYS.key]: set.serving.key,
      [SECRET_KEYS.caCert]: set.ca.cert,
      [SECRET_KEYS.bundle]: joinBundle(set.ca.cert),
    },
    annotations: { [ROTATION_ANNOTATIONS.generation]: String(generation) },
  };
}

function withoutKeys(record: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !keys.includes(key)));
}

const NEXT_KEYS = [SECRET_KEYS.nextCert, SECRET_KEYS.nextKey, SECRET_KEYS.nextCaCert];

/** Step 1: `next` staged, its CA added to the bundle. */
export function staged(secret: TlsSecret, next: CertificateSet): Omit<TlsSecret, 'uid'> {
  return {
    data: {
      ...withoutKeys(secret.data, NEXT_KEYS),
      [SECRET_KEYS.nextCert]: next.serving.cert,
      [SECRET_KEYS.nextKey]: next.serving.key,
      [SECRET_KEYS.nextCaCert]: next.ca.cert,
      [SECRET_KEYS.bundle]: joinBundle(secret.data[SECRET_KEYS.caCert] ?? '', next.ca.cert),
    },
    annotations: {
      ...withoutKeys(secret.annotations, [ROTATION_ANNOTATIONS.rotate, ROTATION_ANNOTATIONS.previousCaUntil]),
      [ROTATION_ANNOTATIONS.generation]: String(generationOf(secret) + 1),
    },
  };
}

/** Step 3: the staged pair served; the previous CA stays trusted until `now + graceMs`. */
export function promoted(secret: TlsSecret, now: Date, graceMs: number): Omit<TlsSecret, 'uid'> {
  return {
    data: {
      ...withoutKeys(secret.data, NEXT_KEYS),
      [SECRET_KEYS.cert]: secret.data[SECRET_KEYS.nextCert] ?? '',
      [SECRET_KEYS.key]: secret.data[SECRET_KEYS.nextKey] ?? '',
      [SECRET_KEYS.caCert]: secret.data[SECRET_KEYS.nextCaCert] ?? '',
    },
    annotations: {
      ...secret.annotations,
      [ROTATION_ANNOTATIONS.previousCaUntil]: new Date(now.getTime() + graceMs).toISOString(),
    },
  };
}

/** Step 4: only the CA of the served pair is trusted. */
export function previousCaDropped(secret: TlsSecret): Omit<TlsSecret, 'uid'> {
  return {
    data: { ...secret.data, [SECRET_KEYS.bundle]: joinBundle(secret.data[SECRET_KEYS.caCert] ?? '') },
    annotations: {
      ...withoutKeys(secret.annotations, [ROTATION_ANNOTATIONS.previousCaUntil]),
      [ROTATION_ANNOTATIONS.generation]: String(generationOf(secret) + 1),
    },
  };
}
