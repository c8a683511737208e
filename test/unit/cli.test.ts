/** The `mutate` and `explain` doors, run as a user runs them: the built binary, files and pipes. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments, stringify } from 'yaml';
import { mutateManifests, renderManifests } from '../../src/cli/manifests.ts';
import { corpusMissing, RENDERED_DIR } from '../support/corpus.ts';
import { clientService, envStatefulSet } from '../support/fixtures.ts';

const BIN = new URL('../../bin/kafka-nodeport-injector', import.meta.url).pathname;

function cli(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const missing = corpusMissing();

t.test(
  'mutate -f FILE and mutate from stdin give the same output, and a second pass changes nothing',
  { skip: missing },
  (t) => {
    const file = join(RENDERED_DIR, 'bitnami-kafka-12.9.5_replicas3.yaml');
    const fromFile = cli(['mutate', '-f', file, '--node-selector', 'runapp=kafka']);
    t.equal(fromFile.status, 0, fromFile.stderr);
    t.match(fromFile.stdout, 'CLIENT://$(MY_HOST_IP):31980');
    t.match(fromFile.stdout, 'externalTrafficPolicy: Local');
    const fromStdin = cli(['mutate', '--node-selector', 'runapp=kafka'], readFileSync(file, 'utf8'));
    t.equal(fromStdin.stdout, fromFile.stdout);
    const again = cli(['mutate', '-f', '-', '--node-selector', 'runapp=kafka'], fromFile.stdout);
    t.equal(again.stdout, fromFile.stdout, 'idempotent');
    t.end();
  },
);

t.test('as a Helm post-renderer: untouched documents pass through byte for byte', { skip: missing }, (t) => {
  const text = readFileSync(join(RENDERED_DIR, 'bitnami-kafka-32.4.4.default.yaml'), 'utf8');
  const out = cli(['mutate'], text).stdout;
  const split = (s: string): string[] => s.split(/^(?=---)/m);
  const before = split(text);
  const after = split(out);
  t.equal(after.length, before.length, 'same number of documents');
  const changed = before.filter((doc, i) => doc !== after[i]);
  t.same(
    changed.map((d) => /^kind: (\w+)/m.exec(d)?.[1]),
    ['Service', 'StatefulSet'],
    'only the client Service and the broker StatefulSet differ',
  );
  t.end();
});

t.test('a bad flag fails before reading input, naming the key and what is accepted', (t) => {
  const result = cli(['mutate', '--node-port', 'x'], '');
  t.equal(result.status, 1);
  t.match(result.stderr, 'kafka-nodeport-injector/node-port: "x" (from --node-port) is not valid');
  t.end();
});

t.test('explain shows each broker at its node IP and the patch', { skip: missing }, (t) => {
  const file = join(RENDERED_DIR, 'cp-helm-charts-cp-kafka-0.6.1.default.yaml');
  const result = cli([
    'explain',
    '-f',
    file,
    '--host-ip',
    '10.0.0.1,10.0.0.2',
    '--host-ip',
    'fd00::3',
    '-o',
    'json',
  ]);
  t.equal(result.status, 0, result.stderr);
  const explanations = JSON.parse(result.stdout) as {
    kind: string;
    decision: string;
    brokers?: { advertised: string }[];
  }[];
  const sts = explanations.find((e) => e.kind === 'StatefulSet' && e.decision === 'mutated');
  t.same(
    sts?.brokers?.map((b) => b.advertised),
    ['EXTERNAL://10.0.0.1:31980', 'EXTERNAL://10.0.0.2:31980', 'EXTERNAL://[fd00::3]:31980'],
  );
  t.end();
});

t.test('malformed YAML is refused with a clear message', (t) => {
  const result = cli(['mutate'], 'kind: [unclosed\n');
  t.equal(result.status, 1);
  t.match(result.stderr, /invalid YAML/);
  t.end();
});

t.test(
  'mutate output keeps YAML-1.1-ambiguous strings quoted, for kubectl and Helm',
  { skip: missing },
  (t) => {
    const out = cli(['mutate', '-f', join(RENDERED_DIR, 'bitnami-kafka-12.9.5.default.yaml')]).stdout;
    t.match(out, /name: ALLOW_PLAINTEXT_LISTENER\n\s+value: "yes"/);
    const parsed = parseAllDocuments(out, { version: '1.1' }).map((d) => d.toJS() as unknown);
    const strings = JSON.stringify(parsed);
    t.match(strings, '"value":"yes"', 'still the string "yes" when read as YAML 1.1');
    t.end();
  },
);

t.test('the client Service is left alone when its brokers cannot be exposed', (t) => {
  const sts = envStatefulSet('');
  const container = sts.spec.template.spec.containers[0];
  if (container) container.env = [{ name: 'KAFKA_HEAP_OPTS', value: '-Xmx1g' }];
  const service = clientService([{ name: 'tcp-client', port: 9092, targetPort: 'kafka-client' }]);
  const input = [sts, service].map((o) => `---\n${stringify(o)}`).join('');
  const documents = mutateManifests(input, { defaults: {}, namespaceAnnotations: {} });
  t.same(
    documents.map((d) => [d.result.decision, d.result.reason]),
    [
      ['unchanged', 'unsupported-wiring'],
      ['unchanged', 'unsupported-wiring'],
    ],
  );
  t.equal(renderManifests(documents), input, 'output is the input');
  t.end();
});

t.test(
  'manifests are read as YAML 1.1, as kubectl and Helm read them: 0755 stays octal',
  { skip: missing },
  (t) => {
    const out = cli(['mutate', '-f', join(RENDERED_DIR, 'bitnami-kafka-12.9.5.default.yaml')]).stdout;
    const sts = parseAllDocuments(out, { version: '1.1' })
      .map(
        (d) =>
          d.toJS() as {
            kind?: string;
            spec?: { template: { spec: { volumes?: { configMap?: { defaultMode?: number } }[] } } };
          } | null,
      )
      .find((o) => o?.kind === 'StatefulSet' && o.spec?.template.spec.volumes?.some((v) => v.configMap));
    const modes = sts?.spec?.template.spec.volumes?.flatMap((v) =>
      v.configMap?.defaultMode === undefined ? [] : [v.configMap.defaultMode],
    );
    t.same(modes, [0o755]);
    t.end();
  },
);

t.test(
  "a client Service admitted before its StatefulSet is left to the chart's own per-broker NodePorts",
  { skip: missing },
  (t) => {
    const text = readFileSync(join(RENDERED_DIR, 'bitnami-kafka-14.8.1_extNodePort_useHostIPs.yaml'), 'utf8');
    const servicesOnly = text
      .split(/^(?=---)/m)
      .filter((doc) => /^kind: Service$/m.test(doc))
      .join('');
    const documents = mutateManifests(servicesOnly, { defaults: {}, namespaceAnnotations: {} });
    const client = documents.find(
      (d) => (d.object as { metadata?: { name?: string } }).metadata?.name === 'my-kafka',
    );
    t.equal(client?.result.reason, 'already-exposed');
    t.equal(renderManifests(documents), servicesOnly, 'nothing changes');
    t.end();
  },
);

t.test('mutate says on stderr which Kafka object it could not expose; --strict fails instead', (t) => {
  const sts = envStatefulSet('');
  const container = sts.spec.template.spec.containers[0];
  if (container) container.env = [{ name: 'KAFKA_HEAP_OPTS', value: '-Xmx1g' }];
  const input = `---\n${stringify(sts)}`;
  const plain = cli(['mutate'], input);
  t.equal(plain.status, 0);
  t.equal(plain.stdout, input, 'stdout stays the manifest');
  t.match(plain.stderr, /^kafka-nodeport-injector: warning: StatefulSet kafka not exposed: /m);
  const strict = cli(['mutate', '--strict'], input);
  t.equal(strict.status, 1, 'a post-renderer install fails instead of coming up unexposed');
  t.equal(strict.stdout, '', 'nothing for Helm to install');
  t.match(strict.stderr, /--strict: StatefulSet kafka not exposed/);
  const exposed = cli(['mutate', '--strict'], `---\n${stringify(envStatefulSet('CLIENT://kafka-0:9092'))}`);
  t.equal(exposed.status, 0, exposed.stderr);
  t.equal(exposed.stderr, '', 'nothing to warn about');
  t.end();
});

t.test('explain exits non-zero when an object is denied', (t) => {
  const sts = envStatefulSet('CLIENT://kafka-0:9092');
  sts.metadata = { ...sts.metadata, annotations: { 'kafka-nodeport-injector/node-port': 'ninety' } };
  const result = cli(['explain'], `---\n${stringify(sts)}`);
  t.equal(result.status, 1);
  t.match(result.stdout, /denied \(invalid-config\)/);
  t.end();
});
