/**
 * PatchBuilder's copy-on-write working copy: the input is never written, the recorded patch applied
 * to the input gives exactly the draft, and an operation that would not apply fails in the builder
 * (as fast-json-patch's validating apply would), never later at the API server.
 */
import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { PatchBuilder, pointer } from '../../src/core/patchBuilder.ts';

function sample(): { metadata: { name: string; labels?: Record<string, string> }; list: { v: number }[] } {
  return { metadata: { name: 'a' }, list: [{ v: 1 }, { v: 2 }] };
}

t.test('the input stays as it was; the patch applied to it gives the draft', (t) => {
  const input = sample();
  const before = structuredClone(input);
  const builder = new PatchBuilder(input);
  builder.add('/metadata/labels', { x: '1' });
  builder.add('/metadata/labels/y', '2');
  builder.replace('/list/0/v', 10);
  builder.add('/list/1', { v: 15 });
  builder.add('/list/-', { v: 3 });
  builder.remove('/list/2');
  builder.add(pointer('metadata', 'labels', 'a/b~c'), 'escaped');
  t.same(input, before, 'the input is not written');
  t.same(builder.draft, {
    metadata: { name: 'a', labels: { x: '1', y: '2', 'a/b~c': 'escaped' } },
    list: [{ v: 10 }, { v: 15 }, { v: 3 }],
  });
  const applied = fastJsonPatch.applyPatch(
    structuredClone(input),
    structuredClone(builder.operations),
    true,
    false,
  );
  t.same(applied.newDocument, builder.draft);
  t.same(
    builder.operations[0],
    { op: 'add', path: '/metadata/labels', value: { x: '1' } },
    'a recorded value is not changed by later operations under it',
  );
  t.not(builder.draft.list, input.list, 'a touched array is a copy');
  t.end();
});

t.test('untouched parts are shared with the input', (t) => {
  const input = { a: { deep: { x: 1 } }, b: { y: 2 } };
  const builder = new PatchBuilder(input);
  builder.add('/a/deep/z', 3);
  t.equal(builder.draft.b, input.b);
  t.not(builder.draft.a.deep, input.a.deep);
  t.end();
});

t.test('operations that would not apply throw, like a validating apply', (t) => {
  const builder = new PatchBuilder(sample());
  t.throws(() => {
    builder.replace('/metadata/missing', 1);
  }, /no member/);
  t.throws(() => {
    builder.remove('/metadata/missing');
  }, /no member/);
  t.throws(() => {
    builder.add('/nothing/here', 1);
  }, /no member/);
  t.throws(() => {
    builder.add('/metadata/name/x', 1);
  }, /no object or array/);
  t.throws(() => {
    builder.add('/list/3', {});
  }, /out of range/);
  t.throws(() => {
    builder.replace('/list/2', {});
  }, /out of range/);
  t.throws(() => {
    builder.replace('/list/01', {});
  }, /out of range/);
  t.throws(() => {
    builder.add('/metadata/x', undefined);
  }, /undefined/);
  t.throws(() => {
    builder.add('/metadata/x', { y: undefined });
  }, /undefined/);
  t.throws(() => {
    builder.add('/__proto__/polluted', 1);
  }, /__proto__/);
  t.throws(() => {
    builder.add('no-slash', 1);
  }, /JSON pointer/);
  t.same(builder.operations, [], 'nothing is recorded for a failed operation');
  t.same(builder.draft, sample());
  t.end();
});
