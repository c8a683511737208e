/**
 * SPEC §5–6 on a real socket: TLS 1.2+ only (1.1 is refused by the server), HTTP/2 and HTTP/1.1
 * both negotiated by ALPN, and a certificate rotated on disk is served to new connections without
 * a restart and without failing one request under continuous load.
 */
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import t from 'tap';
import { generateCertificateSet, writeCertificateSet } from '../../src/server/certificates.ts';
import { h1Request, h2Request, h2Session, kafkaStatefulSet, LOCAL_HOSTS, review } from './helpers.ts';
import { startTestServer } from './serverHelpers.ts';

interface Handshake {
  protocol?: string | null;
  alpn?: string | false | null;
  fingerprint?: string;
  error?: string;
}

function handshake(
  url: string,
  ca: string[],
  options: {
    minVersion?: 'TLSv1' | 'TLSv1.2';
    maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
    alpn?: string[];
  },
): Promise<Handshake> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = tlsConnect(
      {
        host: hostname,
        port: Number(port),
        ca,
        servername: 'localhost',
        ...(options.minVersion ? { minVersion: options.minVersion } : {}),
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
        // Let the client offer old protocols, so a refusal can only come from the server.
        ciphers: 'DEFAULT:@SECLEVEL=0',
        ALPNProtocols: options.alpn ?? ['h2', 'http/1.1'],
      },
      () => {
        resolve({
          protocol: socket.getProtocol(),
          alpn: socket.alpnProtocol,
          fingerprint: socket.getPeerCertificate().fingerprint256,
        });
        socket.end();
      },
    );
    socket.on('error', (error: NodeJS.ErrnoException) => {
      resolve({ error: error.code ?? error.message });
    });
  });
}

t.test('TLS 1.1 is refused; TLS 1.2 and 1.3 are accepted; h2 and http/1.1 are both offered', async (t) => {
  const { server, certificates, stop } = await startTestServer();
  t.teardown(stop);
  const ca = [certificates.ca.cert];
  const old = await handshake(server.url, ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
  t.equal(old.error, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'the server answers protocol_version');
  t.match(await handshake(server.url, ca, { maxVersion: 'TLSv1.2' }), { protocol: 'TLSv1.2', alpn: 'h2' });
  t.match(await handshake(server.url, ca, { minVersion: 'TLSv1.2' }), { protocol: 'TLSv1.3', alpn: 'h2' });
  t.match(await handshake(server.url, ca, { alpn: ['http/1.1'] }), { alpn: 'http/1.1' });

  const body = JSON.stringify(review(kafkaStatefulSet(), { uid: 'over-h1' }));
  const h1 = await h1Request(server.url, certificates.ca.cert, { method: 'POST', path: '/mutate', body });
  t.equal(h1.status, 200);
  t.match(JSON.parse(h1.body), { response: { uid: 'over-h1', allowed: true, patchType: 'JSONPatch' } });

  const session = await h2Session(server.url, certificates.ca.cert);
  const h2 = await h2Request(session, {
    method: 'POST',
    path: '/mutate',
    body: JSON.stringify(review(kafkaStatefulSet(), { uid: 'over-h2' })),
  });
  session.close();
  t.equal(h2.status, 200);
  t.match(JSON.parse(h2.body), { response: { uid: 'over-h2', allowed: true } });
});

t.test('a rotated certificate is served without restart and without one failed request', async (t) => {
  const { server, certificates, certDir, stop } = await startTestServer({ tlsPollIntervalMs: 60_000 });
  t.teardown(stop);
  const next = await generateCertificateSet({ hosts: LOCAL_HOSTS });
  // Clients trust both CAs, as the API server does while a caBundle rotation overlaps.
  const ca = [certificates.ca.cert, next.ca.cert];
  const oldFingerprint = new X509Certificate(certificates.serving.cert).fingerprint256;
  const newFingerprint = new X509Certificate(next.serving.cert).fingerprint256;
  t.equal((await handshake(server.url, ca, {})).fingerprint, oldFingerprint);

  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const body = JSON.stringify(review(kafkaStatefulSet()));
  const record = (result: { status: number }): void => {
    if (result.status === 200) ok += 1;
    else failures.push(`status ${result.status}`);
  };
  const fail = (error: unknown): void => {
    failures.push(error instanceof Error ? error.message : String(error));
  };
  // New HTTP/1.1 connection per request: each one handshakes, so each sees the current certificate.
  const h1Worker = async (): Promise<void> => {
    while (running) {
      await h1Request(server.url, ca.join('\n'), { method: 'POST', path: '/mutate', body }).then(
        record,
        fail,
      );
    }
  };
  // One long-lived HTTP/2 session that started before the rotation keeps working through it.
  const h2Worker = async (): Promise<void> => {
    const session = await h2Session(server.url, ca.join('\n'));
    while (running) {
      await h2Request(session, { method: 'POST', path: '/mutate', body }).then(record, fail);
    }
    session.close();
  };
  const workers = [h1Worker(), h1Worker(), h2Worker()];

  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = ok;
  await writeCertificateSet(certDir, next);
  const rotatedAt = performance.now();
  while (server.tls.current.cert !== next.serving.cert && performance.now() - rotatedAt < 5000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const reloadMs = Math.round(performance.now() - rotatedAt);
  await new Promise((resolve) => setTimeout(resolve, 300));
  running = false;
  await Promise.all(workers);

  t.equal(server.tls.current.cert, next.serving.cert, `reloaded from disk in ${reloadMs} ms`);
  t.same(failures, [], 'no failed request');
  t.ok(before > 0 && ok > before, `${ok} requests answered, ${ok - before} after the rotation began`);
  t.equal(
    (await handshake(server.url, ca, {})).fingerprint,
    newFingerprint,
    'new connections get the new certificate',
  );
  t.equal(
    (await handshake(server.url, ca, { alpn: ['http/1.1'] })).alpn,
    'http/1.1',
    'ALPN survives the reload',
  );
  t.equal(
    (await handshake(server.url, ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).error,
    'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    'TLS 1.2+ survives the reload',
  );

  const metrics = await fetch(server.metricsUrl).then((r) => r.text());
  const expiry = new Date(new X509Certificate(next.serving.cert).validTo).getTime() / 1000;
  t.match(metrics, `kafka_nodeport_injector_certificate_expiration_timestamp_seconds ${expiry}`);
});

t.test('a half-written pair is not installed; the server keeps the previous one', async (t) => {
  const { server, certificates, certDir, stop } = await startTestServer();
  t.teardown(stop);
  const { writeFile } = await import('node:fs/promises');
  const next = await generateCertificateSet({ hosts: LOCAL_HOSTS });
  await writeFile(`${certDir}/tls.crt`, next.serving.cert);
  t.equal(await server.tls.reload(), false, 'new certificate with the old key: refused');
  t.equal(server.tls.current.cert, certificates.serving.cert);
  await writeFile(`${certDir}/tls.key`, next.serving.key);
  t.equal(await server.tls.reload(), true, 'once the key matches it is installed');
  t.equal(server.tls.current.cert, next.serving.cert);
});

t.test('TLS 1.2 offers only AEAD suites, refuses client renegotiation; HTTP/2 caps streams', async (t) => {
  const { server, certificates, stop } = await startTestServer();
  t.teardown(stop);
  const { hostname, port } = new URL(server.url);
  const connect = (ciphers: string): Promise<TLSSocket | string> =>
    new Promise((resolve) => {
      const socket = tlsConnect(
        {
          host: hostname,
          port: Number(port),
          ca: [certificates.ca.cert],
          servername: 'localhost',
          maxVersion: 'TLSv1.2',
          ciphers,
        },
        () => {
          resolve(socket);
        },
      );
      socket.on('error', (error: NodeJS.ErrnoException) => {
        resolve(error.code ?? error.message);
      });
    });
  const cbc = await connect('ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA:AES128-SHA');
  t.type(
    cbc,
    'string',
    `a CBC-SHA1-only client gets no connection (${typeof cbc === 'string' ? cbc : 'connected'})`,
  );
  const gcm = await connect('ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256');
  if (typeof gcm === 'string') t.fail(`an AEAD client connects: ${gcm}`);
  else {
    const refused = await new Promise<Error | null>((resolve) => {
      gcm.once('error', resolve);
      gcm.renegotiate({}, (error) => {
        resolve(error ?? null);
      });
    });
    t.ok(refused, `renegotiation is refused (${refused?.message ?? ''})`);
    gcm.destroy();
  }
  const session = await h2Session(server.url, certificates.ca.cert);
  t.equal(session.remoteSettings.maxConcurrentStreams, 100, 'the server advertises a stream limit');
  session.close();
});
