/**
 * SPEC §6: a malformed, oversized, wrong-content-type or wrong-version request gets a well-formed
 * JSON error (400/413/415, 404/405 for the wrong path or method); and an UPDATE carrying two
 * 3 MiB objects fits under the body limit.
 */
import t from 'tap';
import { BODY_LIMIT_BYTES } from '../../src/server/app.ts';
import { kafkaStatefulSet, review, testApp } from './helpers.ts';

const MiB = 1024 * 1024;

interface ErrorJson {
  statusCode: number;
  error: string;
  message: string;
}

t.test('malformed JSON is a 400 with a JSON body', async (t) => {
  const { app } = await testApp();
  const response = await app.inject({
    method: 'POST',
    url: '/mutate',
    headers: { 'content-type': 'application/json' },
    payload: '{"apiVersion": "admission.k8s.io/v1",',
  });
  t.equal(response.statusCode, 400);
  t.match(response.headers['content-type'], /^application\/json/);
  t.match(response.json<ErrorJson>(), { statusCode: 400, error: 'Bad Request' });
});

t.test('an empty body is a 400', async (t) => {
  const { app } = await testApp();
  const response = await app.inject({
    method: 'POST',
    url: '/mutate',
    headers: { 'content-type': 'application/json' },
    payload: '',
  });
  t.equal(response.statusCode, 400);
  t.equal(response.json<ErrorJson>().statusCode, 400);
});

t.test('a wrong envelope is a 400 naming what is wrong', async (t) => {
  const { app } = await testApp();
  const good = review(kafkaStatefulSet());
  const cases: [string, unknown][] = [
    ['wrong apiVersion', { ...good, apiVersion: 'admission.k8s.io/v2' }],
    ['wrong kind', { ...good, kind: 'TokenReview' }],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }],
    ['no uid', { ...good, request: { ...(good.request as object), uid: undefined } }],
    ['numeric uid', { ...good, request: { ...(good.request as object), uid: 7 } }],
    ['unknown operation', { ...good, request: { ...(good.request as object), operation: 'PATCH' } }],
    ['an array', [good]],
    ['a string', 'AdmissionReview'],
    ['null', null],
  ];
  for (const [name, body] of cases) {
    const response = await app.inject({
      method: 'POST',
      url: '/mutate',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
    t.equal(response.statusCode, 400, name);
    t.equal(response.json<ErrorJson>().statusCode, 400, `${name}: JSON error body`);
  }
});

t.test('text/plain and other media types are a 415', async (t) => {
  const { app } = await testApp();
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/yaml']) {
    const response = await app.inject({
      method: 'POST',
      url: '/mutate',
      headers: { 'content-type': type },
      payload: JSON.stringify(review(kafkaStatefulSet())),
    });
    t.equal(response.statusCode, 415, type);
    t.match(response.json<ErrorJson>(), { statusCode: 415, error: 'Unsupported Media Type' });
  }
});

t.test('10 MiB is a 413', async (t) => {
  const { app } = await testApp();
  const response = await app.inject({
    method: 'POST',
    url: '/mutate',
    headers: { 'content-type': 'application/json' },
    payload: Buffer.alloc(10 * MiB, 0x20),
  });
  t.equal(response.statusCode, 413);
  t.match(response.json<ErrorJson>(), { statusCode: 413, error: 'Payload Too Large' });
});

t.test('an UPDATE carrying two 3 MiB objects fits', async (t) => {
  const { app } = await testApp();
  const padded = (): Record<string, unknown> => {
    const object = kafkaStatefulSet();
    (object.metadata as { annotations?: Record<string, string> }).annotations = {
      padding: 'x'.repeat(3 * MiB),
    };
    return object;
  };
  const payload = JSON.stringify(review(padded(), { operation: 'UPDATE', oldObject: padded(), uid: 'big' }));
  t.ok(payload.length > 6 * MiB && payload.length < BODY_LIMIT_BYTES, `${payload.length} bytes`);
  const response = await app.inject({
    method: 'POST',
    url: '/mutate',
    headers: { 'content-type': 'application/json' },
    payload,
  });
  t.equal(response.statusCode, 200);
  t.match(response.json(), { response: { uid: 'big', allowed: true, patchType: 'JSONPatch' } });
});

t.test('wrong path is a 404, wrong method a 405 with Allow, both JSON', async (t) => {
  const { app } = await testApp();
  const notFound = await app.inject({ method: 'POST', url: '/validate' });
  t.equal(notFound.statusCode, 404);
  t.equal(notFound.json<ErrorJson>().statusCode, 404);
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH'] as const) {
    const response = await app.inject({ method, url: '/mutate' });
    t.equal(response.statusCode, 405, `${method} /mutate`);
    t.equal(response.headers.allow, 'POST');
    t.equal(response.json<ErrorJson>().statusCode, 405);
  }
  const postHealth = await app.inject({ method: 'POST', url: '/healthz' });
  t.equal(postHealth.statusCode, 405);
  t.equal(postHealth.headers.allow, 'GET, HEAD');
});

t.test('/healthz is 200; /readyz is 503 with reasons until ready', async (t) => {
  const ready = await testApp();
  t.equal((await ready.app.inject({ url: '/healthz' })).statusCode, 200);
  t.same((await ready.app.inject({ url: '/readyz' })).json(), { status: 'ready' });
  const waiting = await testApp({}, ['namespace cache not synced yet']);
  const response = await waiting.app.inject({ url: '/readyz' });
  t.equal(response.statusCode, 503);
  t.same(response.json(), { status: 'not ready', reasons: ['namespace cache not synced yet'] });
  t.equal((await waiting.app.inject({ url: '/healthz' })).statusCode, 200, 'alive while not ready');
});

t.test('error answers are counted in the HTTP metrics', async (t) => {
  const { app, metrics } = await testApp();
  await app.inject({
    method: 'POST',
    url: '/mutate',
    headers: { 'content-type': 'text/plain' },
    payload: 'x',
  });
  await app.inject({
    method: 'POST',
    url: '/mutate',
    headers: { 'content-type': 'application/json' },
    payload: '{',
  });
  await app.inject({ method: 'GET', url: '/no/such/path' });
  const text = await metrics.registry.metrics();
  t.match(text, /kafka_nodeport_injector_http_requests_total\{route="\/mutate",method="POST",code="415"\} 1/);
  t.match(text, /kafka_nodeport_injector_http_requests_total\{route="\/mutate",method="POST",code="400"\} 1/);
  t.match(text, /kafka_nodeport_injector_http_requests_total\{route="unmatched",method="GET",code="404"\} 1/);
});
