/**
 * `serve --self-managed-certs` against a real control plane (test/e2e/cluster.ts):
 *
 *   node test/e2e/self-managed-certs.ts        (exit 1 on any failure; last line `N passed, N failed`)
 *
 * The webhook runs outside the cluster — the built `bin/kafka-nodeport-injector`, on 127.0.0.1 —
 * and the API server reaches it by URL, so its certificate carries `--cert-ip 127.0.0.1`.
 *
 *  1. manifests: `kubectl kustomize` renders base and cert-manager overlay; every flag the
 *     Deployments pass exists in `serve --help`; `kubectl apply -k manifests/ --dry-run=server`
 *     is accepted.
 *  2. not ready until loaded: a replica whose namespace does not exist yet answers /healthz but
 *     not /readyz, and becomes ready once the namespace appears.
 *  3. races: rounds of two replicas started at once converge on one Secret, both serving its pair.
 *  4. with the manifests' own ServiceAccount and RBAC: two replicas create the Secret and set the
 *     caBundle of both entries of the webhook configuration (one entry per replica's URL); a
 *     server-side dry-run create of bitnami-kafka-12.9.5's StatefulSet comes back mutated.
 *  5. rotation under load (dry-run creates without pause): one forced through the Secret's
 *     `kafka-nodeport-injector/rotate` annotation, one when due (short --cert-validity). 0 failed
 *     admissions; the caBundle never holds more than two CAs and ends with the new CA only.
 *
 * Env: KNI_E2E_BIN_DIR, KNI_E2E_KEEP (see README.md); SHARED_DIR (default /work/shared, read at run
 * time, never copied); KNI_SKIP_BUILD=1 uses dist/ as it is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { freePorts, run, startCluster, type Cluster } from './cluster.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env['SHARED_DIR'] ?? path.resolve(ROOT, '../shared');
const KAFKA_RENDERED = path.join(SHARED, 'charts-rendered/bitnami-kafka-12.9.5_replicas3.yaml');
const NS = 'kafka-nodeport-injector';
const SECRET = 'kafka-nodeport-injector-tls';
const WEBHOOK = 'kafka-nodeport-injector';
const KAFKA_NS = 'kafka-test';

const t0 = Date.now();
const say = (message: string): void => {
  console.log(`[self-managed-certs +${((Date.now() - t0) / 1000).toFixed(1)}s] ${message}`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let passed = 0;
let failed = 0;
function check(name: string, ok: boolean, detail = ''): boolean {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${detail ? ` (${detail})` : ''}`);
  return ok;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function at(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof key === 'number') current = Array.isArray(current) ? (current as unknown[])[key] : undefined;
    else current = isRecord(current) ? current[key] : undefined;
  }
  return current;
}

const decode = (base64: unknown): string =>
  typeof base64 === 'string' ? Buffer.from(base64, 'base64').toString('utf8') : '';

function certificatesIn(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => m[0]);
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The webhook as a process
// ---------------------------------------------------------------------------------------------

/** dist/ is what bin/ runs: rebuild it when a source file is newer (KNI_SKIP_BUILD=1: don't). */
async function ensureBuilt(): Promise<void> {
  const entry = path.join(ROOT, 'dist/cli/main.js');
  if (process.env['KNI_SKIP_BUILD'] === '1' && existsSync(entry)) return;
  const builtAt = existsSync(entry) ? statSync(entry).mtimeMs : 0;
  const sources = (await readdir(path.join(ROOT, 'src'), { recursive: true })).filter((f) =>
    f.endsWith('.ts'),
  );
  if (sources.every((f) => statSync(path.join(ROOT, 'src', f)).mtimeMs < builtAt)) return;
  say('building dist/ (tsc -p tsconfig.build.json)');
  const result = await run(
    process.execPath,
    [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
    },
  );
  if (result.code !== 0) throw new Error(`build failed:\n${result.stdout}${result.stderr}`);
}

interface Replica {
  name: string;
  port: number;
  metricsPort: number;
  url: string;
  process: ChildProcess;
  logFile: string;
  auditFile: string;
  log: () => Promise<string>;
  exited: Promise<number>;
  stop: () => Promise<number>;
}

const replicas = new Set<Replica>();

interface ReplicaOptions {
  ports?: [number, number];
  /** Flags first on the command line (the Deployment's), so the test's own override them. */
  baseArgs?: string[];
  env?: Record<string, string>;
}

async function startReplica(
  dir: string,
  name: string,
  kubeconfig: string,
  extraArgs: string[],
  options: ReplicaOptions = {},
): Promise<Replica> {
  const [port, metricsPort] = options.ports ?? ((await freePorts(2)) as [number, number]);
  const logFile = path.join(dir, `${name}.log`);
  const auditFile = path.join(dir, `${name}.audit.log`);
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin/kafka-nodeport-injector'),
      'serve',
      ...(options.baseArgs ?? []),
      '--host=127.0.0.1',
      `--port=${port}`,
      '--metrics-host=127.0.0.1',
      `--metrics-port=${metricsPort}`,
      `--kubeconfig=${kubeconfig}`,
      `--audit-log=${auditFile}`,
      '--self-managed-certs',
      '--cert-ip=127.0.0.1',
      ...extraArgs,
    ],
    { stdio: ['ignore', fd, fd], env: { ...process.env, KUBECONFIG: '', POD_NAMESPACE: '', ...options.env } },
  );
  closeSync(fd);
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? (signal ? 128 : -1));
    });
  });
  const replica: Replica = {
    name,
    port,
    metricsPort,
    url: `https://127.0.0.1:${port}`,
    process: child,
    logFile,
    auditFile,
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      replicas.delete(replica);
      return code;
    },
  };
  replicas.add(replica);
  return replica;
}

process.on('exit', () => {
  for (const replica of replicas) replica.process.kill('SIGKILL');
});

function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { rejectUnauthorized: false, timeout: 3000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.on('error', reject);
    request.on('timeout', () => request.destroy(new Error('timeout')));
  });
}

/** The certificate a replica presents to a new connection (SHA-256 fingerprint). */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] },
      () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        resolve(cert.fingerprint256);
      },
    );
    socket.on('error', reject);
    socket.setTimeout(3000, () => socket.destroy(new Error('timeout')));
  });
}

const isReady = async (replica: Replica): Promise<true | undefined> =>
  (await httpsGet(`${replica.url}/readyz`)).status === 200 ? true : undefined;

// ---------------------------------------------------------------------------------------------
// Cluster state
// ---------------------------------------------------------------------------------------------

interface SecretState {
  resourceVersion: string;
  type: string;
  cert: string;
  ca: string;
  bundle: string[];
  staged: boolean;
}

async function readSecret(
  cluster: Cluster,
  namespace: string,
  name: string,
): Promise<SecretState | undefined> {
  const response = await cluster.api('GET', `/api/v1/namespaces/${namespace}/secrets/${name}`);
  if (response.status !== 200) return undefined;
  const data = at(response.json, 'data');
  return {
    resourceVersion: String(at(response.json, 'metadata', 'resourceVersion')),
    type: String(at(response.json, 'type')),
    cert: decode(at(data, 'tls.crt')),
    ca: decode(at(data, 'ca.crt')),
    bundle: certificatesIn(decode(at(data, 'ca-bundle.crt'))),
    staged: at(data, 'next-tls.crt') !== undefined,
  };
}

/** The caBundle of each webhook entry, as lists of CA certificates. */
async function readCaBundles(cluster: Cluster): Promise<string[][]> {
  const response = await cluster.api(
    'GET',
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK}`,
  );
  if (response.status !== 200) throw new Error(`GET webhook configuration: ${response.status}`);
  const webhooks = at(response.json, 'webhooks');
  return (Array.isArray(webhooks) ? webhooks : []).map((w) =>
    certificatesIn(decode(at(w, 'clientConfig', 'caBundle'))),
  );
}

/** A kubeconfig for the manifests' ServiceAccount (a bound token), to run the replicas as it. */
async function serviceAccountKubeconfig(cluster: Cluster, dir: string): Promise<string> {
  const token = (
    await cluster.kubectlOk(['create', 'token', 'kafka-nodeport-injector', '-n', NS, '--duration=2h'])
  ).trim();
  const file = path.join(dir, 'webhook-sa.kubeconfig');
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'e2e', cluster: { server: cluster.server, 'certificate-authority': cluster.caFile } },
      ],
      users: [{ name: 'webhook', user: { token } }],
      contexts: [{ name: 'webhook', context: { cluster: 'e2e', user: 'webhook', namespace: NS } }],
      'current-context': 'webhook',
    }),
  );
  return file;
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

function mebibytes(quantity: unknown): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(String(quantity));
  return match?.[1] === undefined ? NaN : Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

/** The base Deployment's container: its args (without `serve`) and plain env values. */
function deployedContainer(rendered: Rendered): { baseArgs: string[]; env: Record<string, string> } {
  const deployment = rendered.base.find((doc) => doc['kind'] === 'Deployment');
  const args: unknown = at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'args');
  const env: unknown = at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'env');
  return {
    baseArgs: (Array.isArray(args) ? (args as unknown[]) : []).map(String).filter((arg) => arg !== 'serve'),
    env: Object.fromEntries(
      (Array.isArray(env) ? (env as unknown[]) : [])
        .filter((e) => typeof at(e, 'value') === 'string')
        .map((e) => [String(at(e, 'name')), String(at(e, 'value'))]),
    ),
  };
}

interface Rendered {
  base: Record<string, unknown>[];
  overlay: Record<string, unknown>[];
}

async function checkManifests(cluster: Cluster): Promise<Rendered> {
  const kubectl = path.join(cluster.binDir, 'kubectl');
  const render = async (dir: string): Promise<Record<string, unknown>[]> => {
    const result = await run(kubectl, ['kustomize', path.join(ROOT, dir)]);
    check(`kubectl kustomize ${dir} renders`, result.code === 0, result.stderr.trim());
    return parseAllDocuments(result.stdout)
      .map((doc) => doc.toJS() as unknown)
      .filter(isRecord);
  };
  const base = await render('manifests');
  const overlay = await render('manifests/overlays/cert-manager');
  const strict = await render('manifests/overlays/strict-spread');
  const antiAffinity = (docs: Record<string, unknown>[]): unknown =>
    at(
      docs.find((doc) => doc['kind'] === 'Deployment'),
      'spec',
      'template',
      'spec',
      'affinity',
      'podAntiAffinity',
    );
  check(
    'the base prefers replicas on different nodes (a one-node cluster runs both); strict-spread requires it',
    JSON.stringify(antiAffinity(base)).includes('preferredDuringScheduling') &&
      JSON.stringify(antiAffinity(strict)).includes('requiredDuringScheduling') &&
      !JSON.stringify(antiAffinity(strict)).includes('preferredDuringScheduling'),
  );
  check(
    'the base renders namespace, RBAC, Deployment, PDB, Service, webhook configuration',
    [
      'Namespace',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Role',
      'RoleBinding',
      'Deployment',
      'PodDisruptionBudget',
      'Service',
      'MutatingWebhookConfiguration',
    ].every((kind) => base.some((doc) => doc['kind'] === kind)),
  );

  const help = (
    await run(process.execPath, [path.join(ROOT, 'bin/kafka-nodeport-injector'), 'serve', '--help'])
  ).stdout;
  for (const [name, docs] of [
    ['base', base],
    ['cert-manager overlay', overlay],
  ] as const) {
    const deployment = docs.find((doc) => doc['kind'] === 'Deployment');
    const args = at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'args');
    const flags = (Array.isArray(args) ? args : [])
      .map(String)
      .filter((arg) => arg.startsWith('--'))
      .map((arg) => arg.split('=')[0] ?? arg);
    const missing = flags.filter((flag) => !new RegExp(`(^|\\s)${flag}[\\s,]`, 'm').test(help));
    check(
      `every flag the ${name} Deployment passes exists in serve --help`,
      missing.length === 0,
      missing.length ? `missing: ${missing.join(', ')}` : '',
    );
    if (name === 'base') {
      check(
        'the base Deployment: self-managed certificates, metrics on 0.0.0.0, --shutdown-delay=5, >= 128Mi requested',
        flags.includes('--self-managed-certs') &&
          (args as string[]).includes('--metrics-host=0.0.0.0') &&
          (args as string[]).includes('--shutdown-delay=5') &&
          mebibytes(
            at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'resources', 'requests', 'memory'),
          ) >= 128,
      );
    }
  }
  return { base, overlay };
}

async function checkNotReadyUntilLoaded(cluster: Cluster, dir: string): Promise<void> {
  const replica = await startReplica(dir, 'late', cluster.kubeconfigPath, [
    '--namespace=kni-late',
    '--webhook-configuration=kni-none',
  ]);
  try {
    await waitFor(
      '/healthz of the late replica',
      async () => ((await httpsGet(`${replica.url}/healthz`)).status === 200 ? true : undefined),
      20_000,
    );
    await sleep(1500);
    const readyz = await httpsGet(`${replica.url}/readyz`);
    check(
      'before its Secret can exist, /healthz answers and /readyz is 503',
      readyz.status === 503,
      readyz.body,
    );
    check(
      '/readyz says it waits for the certificate',
      /serving certificate from Secret kni-late\/kafka-nodeport-injector-tls not loaded/.test(readyz.body),
      readyz.body,
    );
    const started = Date.now();
    await cluster.kubectlOk(['create', 'namespace', 'kni-late']);
    await waitFor('the late replica ready', () => isReady(replica), 40_000);
    check(
      'once the namespace exists the replica creates its Secret and turns ready',
      true,
      `${Date.now() - started} ms`,
    );
    const secret = await readSecret(cluster, 'kni-late', SECRET);
    check(
      "the served certificate is the Secret's",
      secret !== undefined && (await servedFingerprint(replica.port)) === fingerprint(secret.cert),
    );
  } finally {
    check('the late replica exits 0 on SIGTERM', (await replica.stop()) === 0);
  }
}

async function checkRaces(cluster: Cluster, dir: string, rounds: number): Promise<void> {
  await cluster.kubectlOk(['create', 'namespace', 'kni-race']);
  let conflicts = 0;
  let converged = 0;
  const readyMs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const args = ['--namespace=kni-race', `--secret=race-${round}`, '--webhook-configuration=kni-none'];
    const started = Date.now();
    const pair = await Promise.all([
      startReplica(dir, `race-${round}-a`, cluster.kubeconfigPath, args),
      startReplica(dir, `race-${round}-b`, cluster.kubeconfigPath, args),
    ]);
    try {
      await Promise.all(pair.map((r) => waitFor(`${r.name} ready`, () => isReady(r), 30_000)));
      readyMs.push(Date.now() - started);
      const secret = await readSecret(cluster, 'kni-race', `race-${round}`);
      const served = await Promise.all(pair.map((r) => servedFingerprint(r.port)));
      if (secret && served.every((f) => f === fingerprint(secret.cert))) converged += 1;
      const logs = await Promise.all(pair.map((r) => r.log()));
      if (logs.some((log) => log.includes('was created by another replica meanwhile'))) conflicts += 1;
      check(
        `race ${round + 1}: exactly one replica created the Secret`,
        logs.filter((log) => log.includes(`created Secret kni-race/race-${round} with a new CA`)).length ===
          1,
      );
    } finally {
      await Promise.all(pair.map((r) => r.stop()));
    }
  }
  check(
    `${rounds} rounds of two replicas started at once: both serve the one Secret's pair every time`,
    converged === rounds,
    `${converged}/${rounds}; the create lost the race (409) in ${conflicts} round(s); ready after ${readyMs.join(', ')} ms`,
  );
}

interface Load {
  stop: () => Promise<{ ok: number; failures: string[]; latencies: number[] }>;
}

/** Server-side dry-run creates of the Kafka StatefulSet, back to back, from `workers` loops. */
function startLoad(cluster: Cluster, statefulSet: Record<string, unknown>, workers: number): Load {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const latencies: number[] = [];
  const loop = async (): Promise<void> => {
    while (running) {
      const started = performance.now();
      try {
        const response = await cluster.api(
          'POST',
          `/apis/apps/v1/namespaces/${KAFKA_NS}/statefulsets?dryRun=All`,
          statefulSet,
        );
        latencies.push(performance.now() - started);
        if (response.status === 201 && isMutated(response.json)) ok += 1;
        else
          failures.push(
            `${new Date().toISOString()} HTTP ${response.status}: ${response.text.slice(0, 300)}`,
          );
      } catch (error) {
        failures.push(
          `${new Date().toISOString()} ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  };
  const loops = Array.from({ length: workers }, () => loop());
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failures, latencies };
    },
  };
}

function isMutated(object: unknown): boolean {
  const annotations = at(object, 'metadata', 'annotations');
  const env = at(object, 'spec', 'template', 'spec', 'containers', 0, 'env');
  return (
    isRecord(annotations) &&
    typeof annotations['kafka-nodeport-injector/status'] === 'string' &&
    Array.isArray(env) &&
    env.some((e) => at(e, 'name') === 'MY_HOST_IP')
  );
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/**
 * Follows one rotation: from the first change of the Secret's CA until the caBundle holds the new
 * CA only and both replicas serve the new pair. Returns the times of each phase.
 */
async function followRotation(
  cluster: Cluster,
  pair: Replica[],
  oldCa: string,
  timeoutMs: number,
  onBundle: (cas: number) => void,
): Promise<{ staged: number; promoted: number; served: number; dropped: number; newCa: string }> {
  const started = Date.now();
  const marks = { staged: 0, promoted: 0, served: 0, dropped: 0 };
  while (Date.now() - started < timeoutMs) {
    const bundles = await readCaBundles(cluster);
    for (const bundle of bundles) onBundle(bundle.length);
    const secret = await readSecret(cluster, NS, SECRET);
    const elapsed = Date.now() - started;
    if (secret?.staged && !marks.staged) marks.staged = elapsed;
    if (secret && fingerprint(secret.ca) !== fingerprint(oldCa)) {
      const newCa = secret.ca;
      if (!marks.staged) marks.staged = elapsed;
      if (!marks.promoted) marks.promoted = elapsed;
      const served = await Promise.all(pair.map((r) => servedFingerprint(r.port)));
      if (!marks.served && served.every((f) => f === fingerprint(secret.cert))) marks.served = elapsed;
      const onlyNew = bundles.every(
        (b) => b.length === 1 && b[0] !== undefined && fingerprint(b[0]) === fingerprint(secret.ca),
      );
      if (marks.served && onlyNew) {
        marks.dropped = elapsed;
        return { ...marks, newCa };
      }
    }
    await sleep(50);
  }
  throw new Error(`rotation not complete after ${timeoutMs} ms: ${JSON.stringify(marks)}`);
}

async function rssMiB(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid ?? 0}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

async function checkInstalledWithRbac(cluster: Cluster, dir: string, rendered: Rendered): Promise<void> {
  // The manifests' own namespace, ServiceAccount and RBAC, for real; the webhook configuration
  // with one entry per replica, reached by URL.
  const ports = await freePorts(4);
  const [portA, metricsA, portB, metricsB] = ports as [number, number, number, number];
  const keep = new Set([
    'Namespace',
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
  ]);
  await cluster.apply(
    rendered.base
      .filter((doc) => keep.has(String(doc['kind'])))
      .map((doc) => stringify(doc))
      .join('---\n'),
  );
  const dryRun = await cluster.kubectl(['apply', '-k', path.join(ROOT, 'manifests'), '--dry-run=server']);
  check(
    'kubectl apply -k manifests/ --dry-run=server is accepted',
    dryRun.code === 0,
    (dryRun.stderr || dryRun.stdout).trim().split('\n').slice(-3).join(' | '),
  );

  const config = rendered.base.find((doc) => doc['kind'] === 'MutatingWebhookConfiguration');
  const template = at(config, 'webhooks', 0);
  if (!isRecord(config) || !isRecord(template)) throw new Error('no webhook entry in the manifests');
  config['webhooks'] = [
    {
      ...template,
      name: 'replica-a.kafka-nodeport-injector.io',
      clientConfig: { url: `https://127.0.0.1:${portA}/mutate` },
    },
    {
      ...template,
      name: 'replica-b.kafka-nodeport-injector.io',
      clientConfig: { url: `https://127.0.0.1:${portB}/mutate` },
    },
  ];
  await cluster.apply(stringify(config));
  await cluster.kubectlOk(['create', 'namespace', KAFKA_NS]);
  await cluster.kubectlOk(['label', 'namespace', KAFKA_NS, 'kafka-nodeport-injector/inject=enabled']);

  const kubeconfig = await serviceAccountKubeconfig(cluster, dir);
  // As deployed: the Deployment's args and env, then what running outside the cluster changes
  // (listen addresses, namespace, kubeconfig) and short certificate times.
  const { baseArgs, env } = deployedContainer(rendered);
  say(`replicas run with the Deployment's ${baseArgs.join(' ')} and ${JSON.stringify(env)}`);
  const args = [
    `--namespace=${NS}`,
    '--cert-validity=60s',
    '--ca-propagation-delay=2s',
    '--ca-grace-period=5s',
  ];
  const started = Date.now();
  const pair = await Promise.all([
    startReplica(dir, 'replica-a', kubeconfig, args, { ports: [portA, metricsA], baseArgs, env }),
    startReplica(dir, 'replica-b', kubeconfig, args, { ports: [portB, metricsB], baseArgs, env }),
  ]);
  try {
    await Promise.all(pair.map((r) => waitFor(`${r.name} ready`, () => isReady(r), 40_000)));
    check(
      "two replicas with the Deployment's args and env, as its ServiceAccount, turn ready",
      true,
      `${Date.now() - started} ms after start`,
    );
    const secret = await readSecret(cluster, NS, SECRET);
    check('the Secret exists, type kubernetes.io/tls', secret?.type === 'kubernetes.io/tls');
    if (!secret) throw new Error('no Secret');
    const leaf = new X509Certificate(secret.cert);
    const sans = leaf.subjectAltName ?? '';
    check(
      'its certificate names the Service (4 DNS names) and 127.0.0.1',
      [
        'kafka-nodeport-injector',
        'kafka-nodeport-injector.kafka-nodeport-injector',
        'kafka-nodeport-injector.kafka-nodeport-injector.svc',
        'kafka-nodeport-injector.kafka-nodeport-injector.svc.cluster.local',
      ].every((n) => sans.includes(`DNS:${n}`)) &&
        sans.includes('IP Address:127.0.0.1') &&
        leaf.verify(new X509Certificate(secret.ca).publicKey),
      sans,
    );
    const bundles = await waitFor(
      'caBundle on both entries',
      async () => {
        const b = await readCaBundles(cluster);
        return b.length === 2 &&
          b.every((x) => x.length === 1 && x[0] !== undefined && fingerprint(x[0]) === fingerprint(secret.ca))
          ? b
          : undefined;
      },
      10_000,
    );
    check("the caBundle of both webhook entries is the Secret's CA", bundles.length === 2);
    const served = await Promise.all(pair.map((r) => servedFingerprint(r.port)));
    check(
      "both replicas serve the Secret's pair",
      served.every((f) => f === fingerprint(secret.cert)),
    );

    // As the ServiceAccount, with the shipped RBAC: the node-address map in the opted-in namespace.
    const nodeNames = (
      ((await cluster.api('GET', '/api/v1/nodes')).json as { items?: { metadata?: { name?: string } }[] })
        .items ?? []
    ).map((n) => n.metadata?.name ?? '');
    const mapKeys = await waitFor(
      'node-address ConfigMap',
      async () => {
        const r = await cluster.api(
          'GET',
          `/api/v1/namespaces/${KAFKA_NS}/configmaps/kafka-nodeport-injector-node-addresses`,
        );
        const data = (r.json as { data?: Record<string, string> } | undefined)?.data;
        // Written only after the first complete Node listing: its existence shows both rules work.
        const keys = Object.keys(data ?? {});
        return r.status === 200 && keys.length === nodeNames.length ? keys : undefined;
      },
      15_000,
    ).catch(() => undefined);
    check(
      'the replicas, as the ServiceAccount with the shipped RBAC, keep the node-address ConfigMap in the opted-in namespace (one entry per node)',
      mapKeys !== undefined && [...mapKeys].sort().join(',') === [...nodeNames].sort().join(','),
      `nodes ${nodeNames.join(',') || 'none'}; map ${mapKeys?.join(',') ?? 'absent'}; replica log: ${(
        await pair[0].log()
      )
        .split('\n')
        .filter((l) => l.includes('node'))
        .slice(-3)
        .join(' | ')}`,
    );

    // The Kafka StatefulSet of bitnami-kafka-12.9.5, read from the shared corpus at run time.
    const rendered12 = // YAML 1.1, as the API server's reader: `defaultMode: 0755` is octal.
      parseAllDocuments(await readFile(KAFKA_RENDERED, 'utf8'), { version: '1.1' })
        .map((doc) => doc.toJS() as unknown)
        .filter(isRecord);
    const statefulSet = rendered12.find(
      (doc) => doc['kind'] === 'StatefulSet' && !String(at(doc, 'metadata', 'name')).includes('zookeeper'),
    );
    if (!statefulSet) throw new Error(`no Kafka StatefulSet in ${KAFKA_RENDERED}`);
    statefulSet['metadata'] = {
      ...(statefulSet['metadata'] as Record<string, unknown>),
      namespace: KAFKA_NS,
    };

    let last = '';
    const first = await waitFor(
      'a mutated dry-run create',
      async () => {
        const r = await cluster.api(
          'POST',
          `/apis/apps/v1/namespaces/${KAFKA_NS}/statefulsets?dryRun=All`,
          statefulSet,
        );
        last = `HTTP ${r.status}: ${r.text.slice(0, 2000)}`;
        return r.status === 201 && isMutated(r.json) ? r : undefined;
      },
      15_000,
    ).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; last answer ${last}`);
    });
    const env: unknown = at(first.json, 'spec', 'template', 'spec', 'containers', 0, 'env');
    const advertised = (Array.isArray(env) ? (env as unknown[]) : []).find(
      (e) => at(e, 'name') === 'KAFKA_CFG_ADVERTISED_LISTENERS',
    );
    check(
      'the API server calls the webhook: a server-side dry-run create of the Kafka StatefulSet comes back mutated',
      isMutated(first.json),
      `KAFKA_CFG_ADVERTISED_LISTENERS=${String(at(advertised, 'value'))}`,
    );
    const audits = await Promise.all(pair.map((r) => readFile(r.auditFile, 'utf8').catch(() => '')));
    check(
      'both replicas were called (one webhook entry each)',
      audits.every((a) => a.includes('"StatefulSet"')),
    );

    // Rotation 1: forced. Rotation 2: when due (60 s validity → at 40 s).
    let maxCas = 0;
    const load = startLoad(cluster, statefulSet, 2);
    const loadStarted = Date.now();
    await sleep(1000);
    const before = await readSecret(cluster, NS, SECRET);
    if (!before) throw new Error('no Secret');
    await cluster.kubectlOk(['annotate', 'secret', SECRET, '-n', NS, 'kafka-nodeport-injector/rotate=e2e']);
    const forced = await followRotation(cluster, pair, before.ca, 40_000, (n) => {
      maxCas = Math.max(maxCas, n);
    });
    check(
      'forced rotation: staged, promoted, served by both, previous CA removed',
      forced.newCa !== '' && fingerprint(forced.newCa) !== fingerprint(before.ca),
      `staged ${forced.staged} ms, new CA in the Secret ${forced.promoted} ms, both serving it ${forced.served} ms, caBundle = new CA only ${forced.dropped} ms after the annotation`,
    );
    const annotated = await cluster.api('GET', `/api/v1/namespaces/${NS}/secrets/${SECRET}`);
    check(
      'the rotate annotation is consumed',
      at(annotated.json, 'metadata', 'annotations', 'kafka-nodeport-injector/rotate') === undefined,
    );

    const dueAt =
      Date.parse(
        new X509Certificate((await readSecret(cluster, NS, SECRET))?.cert ?? forced.newCa).validFrom,
      ) +
      5 * 60_000 +
      40_000;
    say(`waiting for the renewal due at ${new Date(dueAt).toISOString()}`);
    const due = await followRotation(
      cluster,
      pair,
      forced.newCa,
      Math.max(0, dueAt - Date.now()) + 40_000,
      (n) => {
        maxCas = Math.max(maxCas, n);
      },
    );
    const dueSecret = await readSecret(cluster, NS, SECRET);
    const renewedAfter = dueSecret
      ? Date.parse(new X509Certificate(dueSecret.cert).validFrom) + 5 * 60_000
      : NaN;
    check(
      'renewal when due (2/3 of a 60 s validity): the same rotation, unasked',
      fingerprint(due.newCa) !== fingerprint(forced.newCa),
      `new pair issued ${((renewedAfter - dueAt) / 1000).toFixed(0)} s after the due time (certificate times are whole seconds); caBundle = new CA only ${due.dropped} ms after the first poll`,
    );
    await sleep(1000);
    const result = await load.stop();
    const seconds = (Date.now() - loadStarted) / 1000;
    check(
      'continuous dry-run creates through both rotations: 0 failures',
      result.failures.length === 0 && result.ok > 0,
      `${result.ok} mutated in ${seconds.toFixed(0)} s, ${result.failures.length} failed${result.failures.length ? `: ${result.failures.slice(0, 3).join(' | ')}` : ''}; latency p50 ${quantile(result.latencies, 0.5).toFixed(1)} ms, p99 ${quantile(result.latencies, 0.99).toFixed(1)} ms, max ${Math.max(...result.latencies).toFixed(0)} ms`,
    );
    check('the caBundle never held more than two CAs', maxCas === 2, `max ${maxCas}`);
    const finalSecret = await readSecret(cluster, NS, SECRET);
    const finalBundles = await readCaBundles(cluster);
    check(
      'afterwards the caBundle of every entry is the new CA only',
      finalSecret !== undefined &&
        finalBundles.every(
          (b) => b.length === 1 && b[0] !== undefined && fingerprint(b[0]) === fingerprint(finalSecret.ca),
        ),
    );
    const metrics = await fetch(`http://127.0.0.1:${metricsA}/metrics`).then((r) => r.text());
    const expiry = finalSecret
      ? new Date(new X509Certificate(finalSecret.cert).validTo).getTime() / 1000
      : NaN;
    check(
      '/metrics reports the expiry of the certificate in use',
      metrics.includes(`kafka_nodeport_injector_certificate_expiration_timestamp_seconds ${expiry}`),
    );
    const rss = await Promise.all(pair.map((r) => rssMiB(r.process.pid)));
    say(`resident memory after the load: ${rss.map((m) => `${m.toFixed(0)} MiB`).join(', ')}`);
    const logs = await Promise.all(pair.map((r) => r.log()));
    check(
      'no replica logged an error',
      logs.every((l) => !/"level":50/.test(l)),
      logs
        .join('')
        .split('\n')
        .filter((l) => l.includes('"level":50'))
        .slice(0, 2)
        .join(' | '),
    );
  } finally {
    const codes = await Promise.all(pair.map((r) => r.stop()));
    check(
      'both replicas exit 0 on SIGTERM',
      codes.every((c) => c === 0),
      codes.join(', '),
    );
  }
}

async function main(): Promise<void> {
  if (!existsSync(KAFKA_RENDERED)) throw new Error(`${KAFKA_RENDERED} not found (set SHARED_DIR)`);
  await ensureBuilt();
  const dir = await mkdtemp(path.join(tmpdir(), 'kni-self-managed-'));
  const cluster = await startCluster({
    // One node, so the node-address map the replicas keep has an entry to show.
    nodes: [{ name: 'node-a', internalIP: '203.0.113.21', externalIP: '198.51.100.21' }],
    log: (m) => {
      say(m);
    },
  });
  try {
    const rendered = await checkManifests(cluster);
    await checkNotReadyUntilLoaded(cluster, dir);
    await checkRaces(cluster, dir, 5);
    await checkInstalledWithRbac(cluster, dir, rendered);
  } catch (error) {
    check(
      'no unexpected error',
      false,
      error instanceof Error ? (error.stack ?? error.message) : String(error),
    );
    for (const replica of replicas)
      console.log(`--- ${replica.name} log:\n${(await replica.log()).split('\n').slice(-30).join('\n')}`);
  } finally {
    await Promise.all([...replicas].map((r) => r.stop()));
    await cluster.stop();
    if (process.env['KNI_E2E_KEEP'] === '1') say(`replica logs kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

await main();
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
