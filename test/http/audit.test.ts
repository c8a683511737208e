/**
 * SPEC §5 audit log: one JSON line per admission decision with time, uid, user, operation, kind,
 * namespace, name, dryRun, decision, reason, patch paths and duration — never env values, Secret
 * data or whole objects; to stdout or to `--audit-log FILE`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { auditLine, createAuditSink, type AuditRecord } from '../../src/server/audit.ts';
import { kafkaStatefulSet, postReview, review, tempDir, testApp } from './helpers.ts';

const SECRET = 'hunter2-env-secret';

t.test('every admission leaves exactly one audit record with the SPEC fields', async (t) => {
  const { app, audit } = await testApp();
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', namespace: 'kafka' },
    data: { password: Buffer.from(SECRET).toString('base64') },
    stringData: { plain: SECRET },
  };
  await postReview(app, review(kafkaStatefulSet(SECRET), { uid: 'a1', username: 'alice', dryRun: true }));
  await postReview(app, review(secret, { uid: 'a2' }));
  await postReview(app, review(kafkaStatefulSet(SECRET), { uid: 'a3', operation: 'DELETE' }));
  t.equal(audit.records.length, 3);
  const [first] = audit.records as [AuditRecord];
  t.same(Object.keys(first), [
    'time',
    'uid',
    'user',
    'operation',
    'kind',
    'namespace',
    'name',
    'dryRun',
    'decision',
    'reason',
    'message',
    'patchPaths',
    'durationMs',
  ]);
  t.match(first, {
    uid: 'a1',
    user: 'alice',
    operation: 'CREATE',
    kind: 'StatefulSet',
    namespace: 'kafka',
    name: 'kafka',
    dryRun: true,
    decision: 'mutated',
    reason: 'exposed',
  });
  t.ok(!Number.isNaN(Date.parse(first.time)), 'ISO time');
  t.ok(first.patchPaths.length > 0 && first.patchPaths.every((p) => p.startsWith('/')), 'JSON pointers');
  t.ok(first.durationMs >= 0 && first.durationMs < 1000, `durationMs ${first.durationMs}`);
  const all = JSON.stringify(audit.records);
  t.notMatch(all, new RegExp(SECRET), 'no env values, no Secret data');
  t.notMatch(all, new RegExp(Buffer.from(SECRET).toString('base64')), 'no encoded Secret data');
  t.notMatch(all, /docker\.io\/bitnami/, 'no object content');
});

t.test('dry-run requests are counted as dry run', async (t) => {
  const { app, metrics } = await testApp();
  await postReview(app, review(kafkaStatefulSet(), { dryRun: true }));
  await postReview(app, review(kafkaStatefulSet()));
  const text = await metrics.registry.metrics();
  t.match(
    text,
    /admission_requests_total\{kind="StatefulSet",operation="CREATE",decision="mutated",dry_run="true"\} 1/,
  );
  t.match(
    text,
    /admission_requests_total\{kind="StatefulSet",operation="CREATE",decision="mutated",dry_run="false"\} 1/,
  );
  t.match(text, /admission_duration_seconds_count\{kind="StatefulSet",decision="mutated"\} 2/);
});

t.test('--audit-log FILE gets one JSON line per decision, appended', async (t) => {
  const { dir, remove } = tempDir('audit');
  t.teardown(remove);
  const file = join(dir, 'audit.log');
  const record: AuditRecord = {
    time: new Date(0).toISOString(),
    uid: 'u',
    user: 'x',
    operation: 'CREATE',
    kind: 'Service',
    namespace: 'n',
    name: 's',
    dryRun: false,
    decision: 'unchanged',
    reason: 'not-client-service',
    message: 'm',
    patchPaths: [],
    durationMs: 0.5,
  };
  for (let round = 0; round < 2; round++) {
    const sink = createAuditSink(file, (error) => t.fail(error.message));
    sink.write(record);
    sink.write({ ...record, uid: 'v' });
    await sink.close();
  }
  const lines = (await readFile(file, 'utf8')).split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.same(
    lines.map((line) => (JSON.parse(line) as AuditRecord).uid),
    ['u', 'v', 'u', 'v'],
  );
});

t.test('U+0085, U+2028 and U+2029 in a name are escaped: one record stays one line', (t) => {
  const record: AuditRecord = {
    time: '2026-12-01T00:00:00.000Z',
    uid: 'u',
    user: 'admin',
    operation: 'CREATE',
    kind: 'StatefulSet',
    namespace: 'kafka',
    name: 'a\u2028b\u2029c\u0085d',
    dryRun: false,
    decision: 'mutated',
    reason: 'exposed',
    message: '',
    patchPaths: [],
    durationMs: 1,
  };
  const line = auditLine(record);
  t.notOk(/[\u0085\u2028\u2029]/.test(line), 'no raw line separator');
  t.equal(line.split('\n').length, 2, 'one line, newline-terminated');
  t.equal((JSON.parse(line) as AuditRecord).name, record.name, 'the name reads back unchanged');
  t.end();
});

t.test('client-chosen audit fields are bounded and marked when cut; a line stays under 24 KiB', async (t) => {
  const { app, audit } = await testApp();
  const huge = 'x'.repeat(2 * 1024 * 1024); // three of them stay under the 8 MiB body limit
  const object = kafkaStatefulSet(SECRET);
  (object.metadata as { name: string }).name = huge;
  await postReview(app, review(object, { uid: 'u'.repeat(200), username: huge }));
  const [record] = audit.records;
  if (!record) throw new Error('no record');
  const line = auditLine(record);
  t.ok(line.length < 24 * 1024, `${String(line.length)} bytes`);
  t.same(record.truncated, ['uid', 'user', 'name']);
  t.equal(record.name.length, 253);
  t.ok(record.name.endsWith('…'), 'the cut is marked');
  t.notMatch(line, SECRET);
});
