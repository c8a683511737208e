/**
 * SPEC §5 `serve --self-managed-certs`: the certificate names (the Service's four DNS names plus
 * `--cert-dns` / `--cert-ip`), durations, and refusals before anything starts.
 */
import t from 'tap';
import { buildProgram } from '../../src/cli/main.ts';
import { duration, rotationPolicy } from '../../src/cli/serve.ts';

const FLAGS = {
  service: 'kafka-nodeport-injector',
  certValidity: '365d',
  caPropagationDelay: '30s',
  caGracePeriod: '5m',
};

t.test('durations: ms, s, m, h, d, and bare seconds', (t) => {
  t.equal(duration('250ms', '--x'), 250);
  t.equal(duration('90s', '--x'), 90_000);
  t.equal(duration('90', '--x'), 90_000);
  t.equal(duration('10m', '--x'), 600_000);
  t.equal(duration('8760h', '--x'), 365 * 86_400_000);
  t.equal(duration('1.5d', '--x'), 1.5 * 86_400_000);
  for (const bad of ['', 'soon', '-5s', '5w', '1e3']) {
    t.throws(
      () => duration(bad, '--cert-validity'),
      /--cert-validity: expected a duration/,
      JSON.stringify(bad),
    );
  }
  t.end();
});

t.test('the serving certificate names the Service four ways, then --cert-dns and --cert-ip', (t) => {
  const policy = rotationPolicy(
    { ...FLAGS, certDns: ['webhook.example'], certIp: ['127.0.0.1,::1'] },
    'tools',
  );
  t.same(policy.hosts, [
    'kafka-nodeport-injector',
    'kafka-nodeport-injector.tools',
    'kafka-nodeport-injector.tools.svc',
    'kafka-nodeport-injector.tools.svc.cluster.local',
    'webhook.example',
    '127.0.0.1',
    '::1',
  ]);
  t.same(
    { validity: policy.validityMs, propagation: policy.propagationDelayMs, grace: policy.graceMs },
    { validity: 365 * 86_400_000, propagation: 30_000, grace: 300_000 },
  );
  t.throws(
    () => rotationPolicy({ ...FLAGS, certIp: ['localhost'] }, 'tools'),
    /--cert-ip: "localhost" is not an IP/,
  );
  t.end();
});

t.test('a validity too short for the rotation to fit in its last third is refused', (t) => {
  t.throws(
    () =>
      rotationPolicy(
        { ...FLAGS, certValidity: '90s', caPropagationDelay: '10s', caGracePeriod: '20s' },
        'ns',
      ),
    /--cert-validity 90s is too short/,
  );
  t.ok(
    rotationPolicy({ ...FLAGS, certValidity: '60s', caPropagationDelay: '2s', caGracePeriod: '5s' }, 'ns'),
  );
  t.end();
});

t.test('--self-managed-certs needs a cluster and excludes --tls-cert', async (t) => {
  const saved = { ...process.env };
  t.teardown(() => {
    process.env = saved;
  });
  delete process.env.KUBECONFIG;
  delete process.env.KUBERNETES_SERVICE_HOST;
  const serve = (args: string[]): Promise<unknown> =>
    buildProgram()
      .exitOverride()
      .parseAsync(['node', 'kafka-nodeport-injector', 'serve', '--self-managed-certs', ...args]);
  await t.rejects(serve(['--namespace=ns']), /--self-managed-certs needs a cluster/);
  await t.rejects(
    serve(['--tls-cert=a', '--tls-key=b']),
    /--self-managed-certs and --tls-cert\/--tls-key exclude each other/,
  );
});
