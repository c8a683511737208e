/**
 * SPEC §6 work bounded by input: objects beyond the limits of src/core/inputLimits.ts are left as
 * they are, with a reason naming the limit — in bounded work, however large or deep the input.
 */
import fc from 'fast-check';
import t from 'tap';
import { parseListeners, rewriteListener } from '../../src/core/advertisedListeners.ts';
import { INPUT_LIMITS } from '../../src/core/inputLimits.ts';
import { mutateObject } from '../../src/core/mutateObject.ts';
import { envStatefulSet } from '../support/fixtures.ts';

const listeners = (n: number): string =>
  Array.from({ length: n }, (_, i) => `L${String(i)}://broker-${String(i)}.kafka-headless:9092`).join(',');

t.test('a 3 MiB advertised listener list is left as it is, saying how long it is', (t) => {
  const list = `${listeners(80_000)},CLIENT://kafka-0.kafka-headless:9092`;
  t.ok(list.length > 3 * 1024 * 1024);
  const result = mutateObject({ object: envStatefulSet(list) });
  t.equal(result.decision, 'unchanged');
  t.equal(result.reason, 'over-limit');
  t.match(
    result.message,
    /env KAFKA_CFG_ADVERTISED_LISTENERS holds \d+ characters \(at most 262144 are read\)/,
  );
  t.same(result.patch, []);
  t.end();
});

t.test('a StatefulSet nested 20,000 levels deep is left as it is (no stack overflow)', (t) => {
  const sts = envStatefulSet(listeners(2));
  let deep: Record<string, unknown> = {};
  const root = deep;
  for (let i = 0; i < 20_000; i++) {
    const next: Record<string, unknown> = {};
    deep['x'] = next;
    deep = next;
  }
  (sts.spec.template.spec as unknown as Record<string, unknown>)['extra'] = root;
  const result = mutateObject({ object: sts });
  t.equal(`${result.decision} ${result.reason}`, 'unchanged over-limit');
  t.match(result.message, /nests deeper than 64 levels/);
  t.end();
});

t.test('too many containers or env entries: left as they are', (t) => {
  const sts = envStatefulSet(listeners(2));
  const [broker] = sts.spec.template.spec.containers;
  if (!broker) throw new Error('fixture');
  const many = structuredClone(sts);
  many.spec.template.spec.containers = Array.from({ length: INPUT_LIMITS.containers + 1 }, (_, i) => ({
    ...broker,
    name: `c${String(i)}`,
  }));
  t.match(mutateObject({ object: many }).message, /65 containers \(at most 64 are read\)/);
  const env = structuredClone(sts);
  const [first] = env.spec.template.spec.containers;
  if (!first) throw new Error('fixture');
  first.env = Array.from({ length: INPUT_LIMITS.envPerContainer + 1 }, (_, i) => ({
    name: `E${String(i)}`,
    value: 'x',
  }));
  t.match(mutateObject({ object: env }).message, /container kafka has 1025 env entries/);
  t.end();
});

t.test('within the limits, the largest list still mutates', (t) => {
  const fits = `${listeners(4_000)},CLIENT://kafka-0.kafka-headless:9092`;
  t.ok(fits.length < INPUT_LIMITS.textChars);
  t.equal(mutateObject({ object: envStatefulSet(fits) }).reason, 'exposed');
  t.end();
});

// The parser and rewriter look at each character a bounded number of times: the entries found are
// exactly the top-level separators plus one, and a rewrite changes only the rewritten entry's bytes.
const name = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/);
const host = fc.oneof(
  fc.stringMatching(/^[a-z0-9.-]{0,12}$/),
  fc.constant('$(MY_POD_NAME).kafka-headless'),
  fc.constant('${POD_IP}'),
  fc.constant('[fd00::1]'),
);
const port = fc.oneof(fc.integer({ min: 1, max: 65535 }).map(String), fc.constant('$((31090 + ${ID}))'));
const entry = fc.tuple(name, host, port).map(([n, h, p]) => `${n}://${h}:${p}`);

t.test('listener lists: one entry per top-level comma, rewrites touch one entry only', (t) => {
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 40 }), fc.nat(), (entries, pick) => {
      const list = entries.join(',');
      const parsed = parseListeners(list);
      if (parsed.length !== entries.length) return false;
      const target = parsed[pick % parsed.length];
      if (!target) return false;
      const rewritten = rewriteListener(list, target.name, '$(MY_HOST_IP):31980');
      const firstSame = parsed.findIndex((l) => l.name.toUpperCase() === target.name.toUpperCase());
      const first = parsed[firstSame];
      if (!first) return false;
      return (
        rewritten.slice(0, first.start) === list.slice(0, first.start) &&
        rewritten.length - list.length ===
          `${first.name}://$(MY_HOST_IP):31980`.length - (first.end - first.start)
      );
    }),
  );
  t.end();
});
