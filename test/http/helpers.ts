/** Shared by the test/http suites: certificates, an app wired for `inject()`, review builders, TLS clients. */
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Operation } from 'fast-json-patch';
import { mutateObject } from '../../src/core/mutateObject.ts';
import type { AdmissionContext } from '../../src/server/admissionHandler.ts';
import {
  decodePatch,
  type AdmissionApiVersion,
  type AdmissionOperation,
  type AdmissionReviewResponse,
} from '../../src/server/admissionReview.ts';
import { buildApp, type WebhookApp } from '../../src/server/app.ts';
import { memoryAuditSink, type AuditSink, type AuditRecord } from '../../src/server/audit.ts';
import { generateCertificateSet, type CertificateSet } from '../../src/server/certificates.ts';
import { createMetrics, type WebhookMetrics } from '../../src/server/metrics.ts';
import { namespaceAnnotationsOff } from '../../src/server/namespaceCache.ts';

export const LOCAL_HOSTS = ['localhost', '127.0.0.1', '::1'];

let certificates: Promise<CertificateSet> | undefined;
/** One CA and serving pair per test process: generation is cheap, but not free. */
export function testCertificates(): Promise<CertificateSet> {
  certificates ??= generateCertificateSet({ hosts: LOCAL_HOSTS });
  return certificates;
}

export interface TestApp {
  app: WebhookApp;
  audit: AuditSink & { records: AuditRecord[] };
  metrics: WebhookMetrics;
}

export async function testApp(
  admission: Partial<AdmissionContext> = {},
  notReady: string[] = [],
): Promise<TestApp> {
  const audit = memoryAuditSink();
  const metrics = createMetrics();
  const app = buildApp({
    tls: (await testCertificates()).serving,
    admission: {
      defaults: {},
      namespaces: namespaceAnnotationsOff,
      protectedNamespaces: new Set(['kube-system']),
      mutate: mutateObject,
      ...admission,
    },
    audit,
    metrics,
    notReadyReasons: () => notReady,
  });
  await app.ready();
  return { app, audit, metrics };
}

export interface ReviewOptions {
  apiVersion?: AdmissionApiVersion;
  operation?: AdmissionOperation;
  uid?: string;
  namespace?: string;
  oldObject?: unknown;
  dryRun?: boolean;
  username?: string;
}

let uidCounter = 0;

/** An AdmissionReview as the API server sends it for `object`. */
export function review(object: unknown, options: ReviewOptions = {}): Record<string, unknown> {
  // The API server fills these from the object's metadata, as strings whatever the object holds.
  const meta = (object as { metadata?: { name?: unknown; namespace?: unknown } } | null | undefined)
    ?.metadata;
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const kind = text((object as { kind?: unknown } | null | undefined)?.kind) ?? '';
  uidCounter += 1;
  return {
    apiVersion: options.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? `00000000-0000-4000-8000-${String(uidCounter).padStart(12, '0')}`,
      kind: { group: kind === 'StatefulSet' ? 'apps' : '', version: 'v1', kind },
      resource: { group: '', version: 'v1', resource: `${kind.toLowerCase()}s` },
      name: text(meta?.name) ?? '',
      namespace: options.namespace ?? text(meta?.namespace) ?? 'kafka',
      operation: options.operation ?? 'CREATE',
      userInfo: { username: options.username ?? 'system:serviceaccount:kube-system:helm' },
      object,
      ...(options.oldObject === undefined ? {} : { oldObject: options.oldObject }),
      dryRun: options.dryRun ?? false,
    },
  };
}

export async function postReview(
  app: WebhookApp,
  body: unknown,
): Promise<{ statusCode: number; review: AdmissionReviewResponse; patch: Operation[] }> {
  const response = await app.inject({ method: 'POST', url: '/mutate', payload: body as object });
  const parsed = response.json<AdmissionReviewResponse>();
  const patch = parsed.response.patch === undefined ? [] : decodePatch(parsed.response.patch);
  return { statusCode: response.statusCode, review: parsed, patch };
}

/** A Kafka broker StatefulSet of the env family (bitnami 12–22), small enough to read in a test. */
export function kafkaStatefulSet(secretValue = 'hunter2-env-secret'): Record<string, unknown> {
  const labels = { 'app.kubernetes.io/name': 'kafka', 'app.kubernetes.io/instance': 'kafka' };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'kafka', namespace: 'kafka', labels },
    spec: {
      replicas: 3,
      serviceName: 'kafka-headless',
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: 'kafka',
              image: 'docker.io/bitnami/kafka:2.8.0',
              command: ['/scripts/setup.sh'],
              env: [
                { name: 'MY_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'KAFKA_CFG_ZOOKEEPER_CONNECT', value: 'kafka-zookeeper' },
                { name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: 'INTERNAL' },
                {
                  name: 'KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP',
                  value: 'INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT',
                },
                { name: 'KAFKA_CFG_LISTENERS', value: 'INTERNAL://:9093,CLIENT://:9092' },
                {
                  name: 'KAFKA_CFG_ADVERTISED_LISTENERS',
                  value:
                    'INTERNAL://$(MY_POD_NAME).kafka-headless.kafka.svc.cluster.local:9093,CLIENT://$(MY_POD_NAME).kafka-headless.kafka.svc.cluster.local:9092',
                },
                { name: 'KAFKA_CLIENT_PASSWORDS', value: secretValue },
              ],
              ports: [
                { name: 'kafka-client', containerPort: 9092 },
                { name: 'kafka-internal', containerPort: 9093 },
              ],
            },
          ],
        },
      },
    },
  };
}

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `kni-http-${prefix}-`));
  return {
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ClientResult {
  status: number;
  body: string;
}

/** HTTP/1.1 over TLS, keep-alive when `agent` keeps connections. */
export function h1Request(
  url: string,
  ca: string,
  options: { method?: string; path: string; body?: string; agent?: Agent; headers?: Record<string, string> },
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      new URL(options.path, url),
      {
        method: options.method ?? 'GET',
        ca,
        agent: options.agent ?? false,
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

export function h2Session(url: string, ca: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(url, { ca });
    session.once('connect', () => {
      session.off('error', reject);
      resolve(session);
    });
    session.once('error', reject);
  });
}

export function h2Request(
  session: ClientHttp2Session,
  options: { method?: string; path: string; body?: string },
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': options.method ?? 'GET',
      ':path': options.path,
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
    });
    stream.on('error', reject);
    stream.end(options.body);
  });
}

/** The `https://host:port` a `serve` process logs once it listens (its stderr so far in `text`). */
export function servingUrl(
  stderr: NodeJS.ReadableStream | null,
  text: () => string,
  timeoutMs = 20_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`serve did not start:\n${text()}`));
    }, timeoutMs);
    const look = (): void => {
      const match = /serving (https:\/\/[^/\s]+)\/mutate/.exec(text());
      if (match?.[1]) {
        clearTimeout(timer);
        stderr?.off('data', look);
        resolve(match[1]);
      }
    };
    stderr?.on('data', look);
  });
}
