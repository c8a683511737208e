/**
 * SPEC §6 "never crashes or hangs": fuzzed requests (fast-check) always get well-formed JSON with a
 * sane status; a well-formed envelope always gets its own uid back; and whatever shape the object
 * takes, a patch in the answer applies cleanly to that object.
 */
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { decodePatch, type AdmissionReviewResponse } from '../../src/server/admissionReview.ts';
import { kafkaStatefulSet, review, testApp } from './helpers.ts';

const SANE_STATUS = new Set([200, 400, 404, 405, 413, 415]);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/octet-stream',
  'application/yaml',
  '',
);
const methods = fc.constantFrom('POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
const paths = fc.constantFrom(
  '/mutate',
  '/healthz',
  '/readyz',
  '/',
  '/mutate/',
  '/mutate?x=1',
  '/%ff',
  '/../etc',
);

/** Raw bytes, broken JSON, valid JSON of any shape, and envelopes with one field gone wrong. */
const bodies = fc.oneof(
  fc.string(),
  fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)),
  fc
    .record({
      key: fc.constantFrom('apiVersion', 'kind', 'request', 'uid', 'operation', 'object'),
      value: fc.jsonValue(),
    })
    .map(({ key, value }) => {
      const body = review(kafkaStatefulSet());
      if (['uid', 'operation', 'object'].includes(key))
        (body.request as Record<string, unknown>)[key] = value;
      else body[key] = value;
      return JSON.stringify(body);
    }),
);

t.test('any request gets well-formed JSON with a sane status', async (t) => {
  const { app } = await testApp();
  let count = 0;
  await fc.assert(
    fc.asyncProperty(methods, paths, contentTypes, bodies, async (method, url, contentType, payload) => {
      count += 1;
      const response = await app.inject({
        method,
        url,
        headers: contentType === '' ? {} : { 'content-type': contentType },
        ...(method === 'GET' || method === 'HEAD' ? {} : { payload }),
      });
      if (!SANE_STATUS.has(response.statusCode)) return false;
      if (method === 'HEAD') return true;
      const body: unknown = JSON.parse(response.body);
      if (typeof body !== 'object' || body === null) return false;
      if (response.statusCode !== 200 || url !== '/mutate') return true;
      const sent = JSON.parse(payload) as { request: { uid: string } };
      return (body as AdmissionReviewResponse).response.uid === sent.request.uid;
    }),
    { numRuns: RUNS },
  );
  t.equal(
    (await app.inject({ url: '/healthz' })).statusCode,
    200,
    `still alive after ${count} fuzzed requests`,
  );
});

/** Every JSON Pointer in `value`, so a property can damage the object anywhere. */
function pointers(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null) return [];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  return entries.flatMap(([key, child]) => {
    const path = `${prefix}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    return [path, ...pointers(child, path)];
  });
}

t.test('whatever shape the object takes, the uid comes back and a patch applies cleanly', async (t) => {
  const { app } = await testApp();
  const base = kafkaStatefulSet();
  const all = pointers(base);
  let patched = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          at: fc.nat({ max: all.length - 1 }),
          value: fc.option(fc.jsonValue(), { nil: undefined }),
        }),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      fc.constantFrom('CREATE', 'UPDATE'),
      fc.uuid(),
      async (damage, operation, uid) => {
        const object = structuredClone(base);
        for (const { at, value } of damage) {
          const path = all[at] ?? '';
          try {
            fastJsonPatch.applyOperation(
              object,
              value === undefined ? { op: 'remove', path } : { op: 'replace', path, value },
              false,
              true,
            );
          } catch {
            // An earlier change removed this path's parent: leave it.
          }
        }
        const response = await app.inject({
          method: 'POST',
          url: '/mutate',
          payload: review(object, { operation: operation, uid }),
        });
        // A key named __proto__ cannot come from the API server (it decodes into typed objects);
        // fastify's prototype-poisoning guard refuses such a body with a well-formed 400.
        if (JSON.stringify(object).includes('"__proto__"')) {
          return (
            response.statusCode === 400 && typeof response.json<{ message?: unknown }>().message === 'string'
          );
        }
        if (response.statusCode !== 200) return false;
        const answer = response.json<AdmissionReviewResponse>().response;
        if (answer.uid !== uid) return false;
        if (answer.patch === undefined) return true;
        patched += 1;
        fastJsonPatch.applyPatch(structuredClone(object), decodePatch(answer.patch), true, false);
        return true;
      },
    ),
    { numRuns: RUNS },
  );
  t.comment(`${patched} of ${RUNS} damaged objects were still patched`);
  t.pass('every answer kept its uid and every patch applied');
});
