/**
 * Prometheus metrics, served on their own plain-HTTP port so scraping needs no webhook certificate
 * and never competes with admission traffic. Each server owns its registry (no global state), so
 * tests can run several apps in one process.
 *
 * Label values come from small fixed sets: a request's kind or URL is attacker-chosen text and
 * must not create new time series.
 */
import type { Server, ServerResponse } from 'node:http';
import { createServer } from './nodeHttp.ts';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditRecord } from './audit.ts';
import { errorBody } from './errorBody.ts';

const PREFIX = 'kafka_nodeport_injector_';
const KNOWN_KINDS = new Set(['StatefulSet', 'Service']);
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

export interface WebhookMetrics {
  registry: Registry;
  observeAdmission(record: AuditRecord): void;
  /** Every HTTP answer, errors included (400, 413, 415 never reach the admission handler). */
  observeHttp(route: string | undefined, method: string, statusCode: number): void;
  setCertificateExpiry(expiry: Date): void;
}

export function createMetrics(): WebhookMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const admissions = new Counter({
    name: `${PREFIX}admission_requests_total`,
    help: 'Admission decisions, by object kind, operation, decision and dry run',
    labelNames: ['kind', 'operation', 'decision', 'dry_run'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: `${PREFIX}admission_duration_seconds`,
    help: 'Time from a decoded AdmissionReview to its answer, by kind and decision',
    labelNames: ['kind', 'decision'] as const,
    // The API server's budget is 10 s by default; we aim for single-digit milliseconds.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10],
    registers: [registry],
  });
  const http = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP responses of the webhook port, by route, method and status code',
    labelNames: ['route', 'method', 'code'] as const,
    registers: [registry],
  });
  const expiry = new Gauge({
    name: `${PREFIX}certificate_expiration_timestamp_seconds`,
    help: 'When the serving certificate in use expires (Unix time, seconds)',
    registers: [registry],
  });
  return {
    registry,
    observeAdmission(record) {
      const kind = KNOWN_KINDS.has(record.kind) ? record.kind : 'other';
      admissions.inc({
        kind,
        operation: record.operation,
        decision: record.decision,
        dry_run: String(record.dryRun),
      });
      latency.observe({ kind, decision: record.decision }, record.durationMs / 1000);
    },
    observeHttp(route, method, statusCode) {
      http.inc({
        route: route ?? 'unmatched',
        method: KNOWN_METHODS.has(method) ? method : 'other',
        code: String(statusCode),
      });
    },
    setCertificateExpiry(date) {
      expiry.set(date.getTime() / 1000);
    },
  };
}

/** `GET /metrics` and nothing else, on plain HTTP. */
export function createMetricsServer(registry: Registry): Server {
  const json = (response: ServerResponse, statusCode: number, message: string, headers = {}): void => {
    response
      .writeHead(statusCode, { 'content-type': 'application/json', ...headers })
      .end(JSON.stringify(errorBody(statusCode, message)));
  };
  return createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      json(response, 404, 'only /metrics is served here');
    } else if (request.method !== 'GET' && request.method !== 'HEAD') {
      json(response, 405, `${request.method ?? ''} is not allowed on /metrics; use GET`, {
        allow: 'GET, HEAD',
      });
    } else {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => {
          json(response, 500, String(error));
        },
      );
    }
  });
}
