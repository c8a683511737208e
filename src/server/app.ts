/**
 * The webhook's HTTPS door as a fastify instance: routes, body limit, content types and error
 * bodies. It does not listen; `webhookServer.ts` does, and tests drive it with `app.inject()`.
 *
 * Every answer is JSON, errors included, and no request can crash the process: bad envelopes stop
 * at fastify's schema check (400), other media types at the content-type parser (415), oversize
 * bodies at the body limit (413), and a failure in our own code becomes a 500 — except inside an
 * admission, which still answers with the request's uid (see admissionHandler.ts).
 */
import { constants as cryptoConstants } from 'node:crypto';
import {
  constants as http2Constants,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { admit, type AdmissionContext } from './admissionHandler.ts';
import { admissionReviewSchema, reviewResponse, type AdmissionReviewRequest } from './admissionReview.ts';
import type { AuditSink } from './audit.ts';
import type { PemPair } from './certificates.ts';
import { errorBody } from './errorBody.ts';
import type { WebhookMetrics } from './metrics.ts';

export type WebhookApp = FastifyInstance<Http2SecureServer, Http2ServerRequest, Http2ServerResponse>;

/**
 * SPEC §6: an UPDATE carries `object` and `oldObject`, each up to the API server's 3 MiB request
 * limit, so 6 MiB of objects plus the envelope must fit. 8 MiB leaves room for the envelope and for
 * JSON that grew in re-encoding, and still refuses anything no API server would send (10 MiB → 413).
 */
export const BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/**
 * TLS 1.2+ only (SPEC §5), and for TLS 1.2 only forward-secret AEAD suites (TLS 1.3's are all
 * AEAD); no client-initiated renegotiation. The same options go into every reloaded context.
 */
export const TLS_CONTEXT_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
} as const;

/**
 * Streams one HTTP/2 connection may hold open at once. The API server sends one admission per
 * stream and keeps few in flight per connection; without a cap one client could hold thousands
 * (about 4 KB each) until the heap is gone.
 */
export const MAX_CONCURRENT_STREAMS = 100;

/**
 * Open connections at once. The API server reuses a few HTTP/2 connections per instance; the cap
 * bounds what many clients together can hold (100 streams × ~4 KB × 64 connections ≈ 26 MB).
 */
export const MAX_CONNECTIONS = 64;

/**
 * The longest a request may take from its headers to its answer: twice the webhook's 5 s
 * `timeoutSeconds`, after which the API server has long given up. A stream still open then is
 * reset (HTTP/2 RST_STREAM CANCEL), an HTTP/1.1 connection closed, so a held request frees its
 * memory whatever the client does.
 */
export const REQUEST_DEADLINE_MS = 10_000;

/** An HTTP/2 connection with no stream for this long gets GOAWAY and is closed. */
export const HTTP2_IDLE_TIMEOUT_MS = 30_000;

export interface AppOptions {
  tls: PemPair;
  admission: AdmissionContext;
  audit: AuditSink;
  metrics: WebhookMetrics;
  /** Why the server is not ready; empty when it is. */
  notReadyReasons: () => string[];
  /** True once shutdown began: HTTP/1.1 answers then close their connection. */
  draining?: () => boolean;
  /** Server logs; none when absent (tests). */
  logger?: FastifyBaseLogger;
  bodyLimit?: number;
  /** Defaults MAX_CONNECTIONS, REQUEST_DEADLINE_MS, HTTP2_IDLE_TIMEOUT_MS (tests use smaller ones). */
  maxConnections?: number;
  requestDeadlineMs?: number;
  http2IdleTimeoutMs?: number;
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** A known path with the wrong method answers 405 and says which methods it takes. */
function methodNotAllowed(app: WebhookApp, url: string, allowed: readonly string[]): void {
  app.route({
    method: ALL_METHODS.filter((m) => !allowed.includes(m)),
    url,
    handler: async (request, reply) => {
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(errorBody(405, `${request.method} is not allowed on ${url}; use ${allowed.join(' or ')}`));
    },
  });
}

function statusOf(error: unknown): number {
  const code =
    typeof error === 'object' && error !== null ? (error as { statusCode?: unknown }).statusCode : undefined;
  return typeof code === 'number' && code >= 400 && code < 600 ? code : 500;
}

export function buildApp(options: AppOptions): WebhookApp {
  const app: WebhookApp = fastify({
    http2: true,
    https: {
      allowHTTP1: true,
      key: options.tls.key,
      cert: options.tls.cert,
      ...TLS_CONTEXT_OPTIONS,
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
    },
    http2SessionTimeout: options.http2IdleTimeoutMs ?? HTTP2_IDLE_TIMEOUT_MS,
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    // One audit line per decision already; fastify's per-request lines would double the volume.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? BODY_LIMIT_BYTES,
    // In-flight and already-queued requests are answered during shutdown; the listener stops
    // accepting new connections and HTTP/2 clients get GOAWAY (see shutdown.ts).
    return503OnClosing: false,
    // Types are the envelope's contract: "uid": 7 is a bad request, not the string "7".
    ajv: { customOptions: { coerceTypes: false } },
  });

  // The API server sends application/json; fastify's default text/plain parser would let other
  // bodies through to the schema check instead of answering 415.
  app.removeContentTypeParser('text/plain');

  app.server.maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  const deadline = options.requestDeadlineMs ?? REQUEST_DEADLINE_MS;
  app.addHook('onRequest', (request, _reply, done) => {
    // Headers are in, the body may never come: a hard deadline, not an idle timer a trickle resets.
    // HTTP/1.1 requests (allowHTTP1) have no stream: their connection is closed instead.
    const raw = request.raw;
    const stream = (raw as { stream?: Http2ServerRequest['stream'] }).stream;
    const timer = setTimeout(() => {
      if (stream !== undefined) stream.close(http2Constants.NGHTTP2_CANCEL);
      else raw.socket.destroy();
    }, deadline);
    timer.unref();
    raw.once('close', () => {
      clearTimeout(timer);
    });
    done();
  });

  app.addHook('onSend', async (request, reply) => {
    if (request.raw.httpVersionMajor === 1) {
      if (options.draining?.()) reply.header('connection', 'close');
    } else {
      // HTTP/2 has no Connection header (fastify sets one after a body error); Node would drop it
      // with a process warning on every such request.
      reply.removeHeader('connection');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    options.metrics.observeHttp(request.routeOptions.url, request.method, reply.statusCode);
  });

  app.setErrorHandler(async (error, request, reply) => {
    const statusCode = statusOf(error);
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    const message =
      statusCode >= 500 ? 'internal server error' : error instanceof Error ? error.message : String(error);
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    return reply
      .code(statusCode)
      .send(errorBody(statusCode, message, typeof code === 'string' ? code : undefined));
  });
  app.setNotFoundHandler(async (request, reply) => {
    return reply
      .code(404)
      .send(errorBody(404, `no route ${request.method} ${request.url.split('?')[0] ?? ''}`));
  });

  app.post<{ Body: AdmissionReviewRequest }>(
    '/mutate',
    { schema: { body: admissionReviewSchema } },
    async (request) => {
      const review = request.body;
      const { response, record } = await admit(review.request, options.admission);
      try {
        options.audit.write(record);
        options.metrics.observeAdmission(record);
      } catch (error) {
        // The decision stands even when it cannot be recorded.
        request.log.error({ err: error }, 'could not record an admission decision');
      }
      return reviewResponse(review.apiVersion, response);
    },
  );
  methodNotAllowed(app, '/mutate', ['POST']);

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  methodNotAllowed(app, '/healthz', ['GET', 'HEAD']);

  app.get('/readyz', async (_request, reply) => {
    const reasons = options.notReadyReasons();
    return reasons.length === 0
      ? { status: 'ready' }
      : reply.code(503).send({ status: 'not ready', reasons });
  });
  methodNotAllowed(app, '/readyz', ['GET', 'HEAD']);

  return app;
}
