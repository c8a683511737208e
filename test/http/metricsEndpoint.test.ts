/**
 * SPEC §5 Prometheus `GET /metrics` on its own plain-HTTP port: admission requests by kind,
 * operation, decision and dry run; latency; HTTP answers by status (errors included); and when the
 * serving certificate expires.
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { h1Request, kafkaStatefulSet, review } from './helpers.ts';
import { startTestServer } from './serverHelpers.ts';

t.test('/metrics counts admissions and error answers, and shows the certificate expiry', async (t) => {
  const { server, certificates, stop } = await startTestServer();
  t.teardown(stop);
  const ca = certificates.ca.cert;
  const post = (body: string, contentType = 'application/json'): ReturnType<typeof h1Request> =>
    h1Request(server.url, ca, {
      method: 'POST',
      path: '/mutate',
      body,
      headers: { 'content-type': contentType },
    });
  await post(JSON.stringify(review(kafkaStatefulSet())));
  await post(JSON.stringify(review(kafkaStatefulSet(), { operation: 'DELETE' })));
  await post('{"not json');
  await post('hello', 'text/plain');
  // The server may close the connection before the client has written all 10 MiB: a reset here
  // is the client's business; the 413 is counted either way.
  await post(' '.repeat(10 * 1024 * 1024)).catch(() => undefined);

  const response = await fetch(server.metricsUrl);
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /^text\/plain/);
  const text = await response.text();
  const prefix = 'kafka_nodeport_injector_';
  t.match(
    text,
    `${prefix}admission_requests_total{kind="StatefulSet",operation="CREATE",decision="mutated",dry_run="false"} 1`,
  );
  t.match(
    text,
    `${prefix}admission_requests_total{kind="StatefulSet",operation="DELETE",decision="skipped",dry_run="false"} 1`,
  );
  t.match(text, `${prefix}admission_duration_seconds_count{kind="StatefulSet",decision="mutated"} 1`);
  for (const code of ['200', '400', '413', '415']) {
    t.match(
      text,
      new RegExp(`${prefix}http_requests_total\\{route="/mutate",method="POST",code="${code}"\\} \\d`),
      code,
    );
  }
  const expiry = new Date(new X509Certificate(certificates.serving.cert).validTo).getTime() / 1000;
  t.match(text, `${prefix}certificate_expiration_timestamp_seconds ${expiry}`);
  t.match(text, `${prefix}process_cpu_seconds_total`, 'process metrics too');
});

t.test('the metrics port serves /metrics only, GET only', async (t) => {
  const { server, stop } = await startTestServer();
  t.teardown(stop);
  const base = new URL(server.metricsUrl);
  const other = await fetch(new URL('/other', base));
  t.equal(other.status, 404);
  t.match(await other.json(), { statusCode: 404 });
  const posted = await fetch(base, { method: 'POST', body: 'x' });
  t.equal(posted.status, 405);
  t.equal(posted.headers.get('allow'), 'GET, HEAD');
});
