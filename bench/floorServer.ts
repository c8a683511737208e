/**
 * The floor: the least any webhook on this stack can do. The same Node HTTPS server class and TLS
 * settings as `serve` (http2.createSecureServer, HTTP/1.1 allowed, TLS 1.2+, the same certificate),
 * which reads the whole AdmissionReview, JSON-parses it and answers a constant `allowed: true` with
 * the request's uid. No framework, no validation, no patch, no audit, no metrics.
 *
 *   node bench/floorServer.ts --cert FILE --key FILE [--host 127.0.0.1] [--port 0] [--min-version TLSv1.2]
 *                             [--load-deps REPO]
 *
 * `--load-deps REPO`: first import the production dependencies of REPO's package.json, as `serve`
 * has them in memory — the idle-memory baseline ("a bare Node TLS server that has loaded the same
 * dependencies"). @kubernetes/client-node is left out: `serve` loads it only for a kubeconfig's
 * credential plugins (src/server/kubeCredentials.ts).
 *
 * `run.ts` passes `--min-version` from the server's own TLS_CONTEXT_OPTIONS (not imported here: that
 * would load fastify into the floor and inflate its memory).
 *
 * Prints `listening https://HOST:PORT` on stdout once it accepts connections; SIGTERM closes it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'min-version': { type: 'string', default: 'TLSv1.2' },
    'load-deps': { type: 'string' },
  },
});

const LOADED_ONLY_ON_DEMAND = new Set(['@kubernetes/client-node']);
if (values['load-deps'] !== undefined) {
  const manifest = join(values['load-deps'], 'package.json');
  const { dependencies = {} } = JSON.parse(readFileSync(manifest, 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const require = createRequire(manifest);
  for (const name of Object.keys(dependencies)) {
    if (LOADED_ONLY_ON_DEMAND.has(name)) continue;
    await import(pathToFileURL(require.resolve(name)).href);
  }
}
if (values.cert === undefined || values.key === undefined) {
  process.stderr.write('floorServer: --cert and --key are required\n');
  process.exit(2);
}

interface ReviewIn {
  apiVersion?: unknown;
  request?: { uid?: unknown };
}

const server = createSecureServer(
  {
    allowHTTP1: true,
    key: readFileSync(values.key),
    cert: readFileSync(values.cert),
    minVersion: values['min-version'] as 'TLSv1.2' | 'TLSv1.3',
  },
  (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    req.on('end', () => {
      let review: ReviewIn;
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReviewIn;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"message":"bad json"}');
        return;
      }
      const body = JSON.stringify({
        apiVersion: typeof review.apiVersion === 'string' ? review.apiVersion : 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: typeof review.request?.uid === 'string' ? review.request.uid : '', allowed: true },
      });
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  },
);

server.listen(Number(values.port), values.host, () => {
  const address = server.address() as AddressInfo;
  process.stdout.write(`listening https://${address.address}:${address.port}\n`);
});

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  // Keep-alive connections from the load generator are idle by now.
  setTimeout(() => process.exit(0), 2000).unref();
});
