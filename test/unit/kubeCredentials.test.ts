import t from 'tap';
import {
  inClusterSettings,
  kubeconfigSettings,
  mergedKubeconfig,
  type KubeconfigFile,
} from '../../src/server/kubeCredentials.ts';

const file = (dir: string, content: unknown): KubeconfigFile => ({ dir, content });

const basic = {
  'current-context': 'prod',
  contexts: [
    { name: 'dev', context: { cluster: 'dev', user: 'dev' } },
    { name: 'prod', context: { cluster: 'prod', user: 'admin', namespace: 'kafka' } },
  ],
  clusters: [
    { name: 'dev', cluster: { server: 'https://dev:6443' } },
    {
      name: 'prod',
      cluster: {
        server: 'https://prod.example.com:6443/proxy',
        'certificate-authority': 'pki/ca.crt',
        'tls-server-name': 'kubernetes',
      },
    },
  ],
  users: [
    { name: 'dev', user: { token: 'dev-token' } },
    { name: 'admin', user: { 'client-certificate': '/abs/admin.crt', 'client-key-data': 'a2V5' } },
  ],
};

t.test('the current context: its cluster and user, relative paths against the file', (t) => {
  t.same(kubeconfigSettings([file('/home/me/.kube', basic)]), {
    kind: 'settings',
    server: 'https://prod.example.com:6443/proxy',
    namespace: 'kafka',
    ca: { file: '/home/me/.kube/pki/ca.crt' },
    cert: { file: '/abs/admin.crt' },
    key: { data: Buffer.from('key') },
    insecureSkipTlsVerify: false,
    tlsServerName: 'kubernetes',
    auth: { kind: 'none' },
  });
  t.end();
});

t.test('user credentials: token, then token file, then username and password', (t) => {
  const withUser = (user: Record<string, unknown>): unknown => ({
    'current-context': 'c',
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    clusters: [{ name: 'c', cluster: { server: 'https://c', 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user }],
  });
  const auth = (user: Record<string, unknown>): unknown => {
    const settings = kubeconfigSettings([file('/k', withUser(user))]);
    return settings.kind === 'settings' ? settings.auth : settings;
  };
  t.same(auth({ token: 't', tokenFile: 'f', username: 'u' }), { kind: 'token', token: 't' });
  t.same(auth({ tokenFile: 'f', username: 'u' }), { kind: 'token-file', file: '/k/f' });
  t.same(auth({ username: 'u', password: 'p' }), { kind: 'basic', username: 'u', password: 'p' });
  t.same(auth({}), { kind: 'none' });
  const settings = kubeconfigSettings([file('/k', withUser({}))]);
  t.equal(settings.kind === 'settings' && settings.insecureSkipTlsVerify, true);
  t.end();
});

t.test('several files merge as kubectl merges them: the first to set a name wins', (t) => {
  const first = {
    contexts: [{ name: 'c', context: { cluster: 'a', user: 'u' } }],
    clusters: [{ name: 'a', cluster: { server: 'https://first' } }],
  };
  const second = {
    'current-context': 'c',
    contexts: [{ name: 'c', context: { cluster: 'b', user: 'u' } }],
    clusters: [
      { name: 'a', cluster: { server: 'https://second' } },
      { name: 'b', cluster: { server: 'https://b' } },
    ],
    users: [{ name: 'u', user: { tokenFile: 'token' } }],
  };
  const settings = kubeconfigSettings([file('/one', first), file('/two', second)]);
  t.equal(settings.kind === 'settings' && settings.server, 'https://first');
  // The user came from the second file: its relative path is resolved there.
  t.same(settings.kind === 'settings' && settings.auth, { kind: 'token-file', file: '/two/token' });
  t.end();
});

t.test('credential plugins and proxies are delegated, saying which', (t) => {
  const config = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}): KubeconfigFile =>
    file('/k', {
      'current-context': 'c',
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      clusters: [{ name: 'c', cluster: { server: 'https://c', ...cluster } }],
      users: [{ name: 'u', user }],
    });
  t.same(kubeconfigSettings([config({ exec: { command: 'aws' } })]), {
    kind: 'delegated',
    why: 'user u uses an exec plugin',
  });
  t.same(kubeconfigSettings([config({ 'auth-provider': { name: 'oidc' } })]), {
    kind: 'delegated',
    why: 'user u uses an auth-provider',
  });
  t.same(kubeconfigSettings([config({}, { 'proxy-url': 'http://proxy:3128' })]), {
    kind: 'delegated',
    why: 'cluster c is reached through proxy-url',
  });
  t.end();
});

t.test('an incomplete kubeconfig is refused with what is missing', (t) => {
  t.throws(() => kubeconfigSettings([file('/k', {})]), /sets no current-context/);
  t.throws(
    () => kubeconfigSettings([file('/k', { 'current-context': 'x' })]),
    /current-context x is not defined/,
  );
  t.throws(
    () =>
      kubeconfigSettings([
        file('/k', { 'current-context': 'x', contexts: [{ name: 'x', context: { cluster: 'gone' } }] }),
      ]),
    /context x names no defined cluster/,
  );
  t.throws(
    () =>
      kubeconfigSettings([
        file('/k', {
          'current-context': 'x',
          contexts: [{ name: 'x', context: { cluster: 'c' } }],
          clusters: [{ name: 'c', cluster: {} }],
        }),
      ]),
    /cluster c has no server/,
  );
  t.end();
});

t.test('in cluster: the Service address (IPv6 bracketed), the CA and the rotating token file', (t) => {
  t.same(inClusterSettings({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, '/sa'), {
    kind: 'settings',
    server: 'https://10.96.0.1:443',
    ca: { file: '/sa/ca.crt' },
    insecureSkipTlsVerify: false,
    auth: { kind: 'token-file', file: '/sa/token' },
  });
  t.equal(inClusterSettings({ KUBERNETES_SERVICE_HOST: 'fd00::1' }, '/sa').server, 'https://[fd00::1]:443');
  t.throws(() => inClusterSettings({}, '/sa'), /KUBERNETES_SERVICE_HOST is not set/);
  t.end();
});

t.test(
  'the merge handed to client-node is the one examined: first current-context, first names, paths absolute',
  (t) => {
    const first = {
      'current-context': 'c',
      users: [{ name: 'u', user: { exec: { command: 'aws' }, 'client-key': 'keys/u.key' } }],
    };
    const second = {
      'current-context': 'other',
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
      clusters: [{ name: 'k', cluster: { server: 'https://k', 'certificate-authority': 'ca.crt' } }],
      users: [{ name: 'u', user: { token: 'ignored' } }],
    };
    t.same(mergedKubeconfig([file('/one', first), file('/two', second)]), {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: 'https://k', 'certificate-authority': '/two/ca.crt' } }],
      users: [{ name: 'u', user: { exec: { command: 'aws' }, 'client-key': '/one/keys/u.key' } }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
    });
    t.end();
  },
);
