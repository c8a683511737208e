/**
 * A real Kubernetes control plane for end-to-end tests, as plain processes on 127.0.0.1:
 * etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake kubelets),
 * built from Go modules by test/e2e/build-binaries.sh. No Docker, no network beyond loopback.
 *
 *   const cluster = await startCluster({ nodes: [{ name: 'n1', internalIP: '203.0.113.11' }] });
 *   try { await cluster.kubectl(['get', 'nodes']); } finally { await cluster.stop(); }
 *
 * Runs on Node >= 24 with native type stripping (erasable syntax only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BUILD_SCRIPT = path.join(HERE, 'build-binaries.sh');

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; 128 + signal number when killed by a signal; -1 if it could not be started. */
  code: number;
}

export interface ExecOptions {
  /** Written to the child's stdin. */
  input?: string;
  /** Kill the child after this many ms (default 120 s). */
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
}

export interface NodeTaint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface FakeNode {
  name: string;
  /** The node's InternalIP, e.g. 203.0.113.11 (TEST-NET-3: data only, never dialled). */
  internalIP: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: NodeTaint[];
  /** Optional ExternalIP address in node.status.addresses. */
  externalIP?: string;
  /**
   * Defaults: cpu 16, memory 64Gi, ephemeral-storage 100Gi, pods 110 (without ephemeral-storage,
   * pods requesting it, e.g. bitnami/kafka 30+ with its resourcesPreset, stay Pending).
   */
  capacity?: { cpu?: string; memory?: string; ephemeralStorage?: string; pods?: string };
}

export interface ClusterOptions {
  /** Directory with all binaries. Default: $KNI_E2E_BIN_DIR, else build-binaries.sh's output. */
  binDir?: string;
  /** Fake nodes (managed by kwok) to create before startCluster resolves. */
  nodes?: FakeNode[];
  /**
   * Create a hostPath PersistentVolume, pre-bound to it, for every Pending PVC (no real storage:
   * kwok runs no containers). Default true.
   */
  provisionVolumes?: boolean;
  /** Extra kube-apiserver flags, e.g. ['--v=4']. */
  apiserverArgs?: string[];
  /** Extra kube-controller-manager flags. */
  controllerManagerArgs?: string[];
  /** Extra kube-scheduler flags. */
  schedulerArgs?: string[];
  /** Keep the temp dir after stop() (also: KNI_E2E_KEEP=1). */
  keepDir?: boolean;
  /** Parent of the temp dir (default os.tmpdir()). */
  tmpRoot?: string;
  /** Timeout for the start-up once the binaries are built (default 180 s). */
  startTimeoutMs?: number;
  /** Progress messages (default: console.error with a prefix; pass () => {} to silence). */
  log?: (msg: string) => void;
}

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';

export interface ClusterPorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

export interface ApiResponse {
  status: number;
  /** Raw response body. */
  text: string;
  /** Parsed JSON body, or undefined if the body is not JSON. */
  json: unknown;
}

export interface IssuedCert {
  certFile: string;
  keyFile: string;
  /** The cluster CA that signed it (use as caBundle / client trust). */
  caFile: string;
  certPem: string;
  keyPem: string;
  caPem: string;
}

export interface Cluster {
  /** Admin kubeconfig (user in system:masters). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Cluster CA certificate (signs the apiserver and all client certs). */
  caFile: string;
  caKeyFile: string;
  /** Admin client certificate and key (system:masters). */
  adminCertFile: string;
  adminKeyFile: string;
  /** Temp dir with pki/, logs/ (one <component>.log each), etcd data, kubeconfigs. */
  dir: string;
  binDir: string;
  ports: ClusterPorts;
  /** Run the cluster's kubectl against this cluster (KUBECONFIG set). Never throws. */
  kubectl(args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Run helm against this cluster (KUBECONFIG and private HELM_*_HOME dirs set). Never throws. */
  helm(args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Like kubectl(), but throws on a non-zero exit code and returns stdout. */
  kubectlOk(args: string[], opts?: ExecOptions): Promise<string>;
  /** Like helm(), but throws on a non-zero exit code and returns stdout. */
  helmOk(args: string[], opts?: ExecOptions): Promise<string>;
  /** helm() with Helm 4 (server-side apply), sharing Helm 3's homes: one release store. */
  helm4(args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `kubectl apply -f -` of a YAML/JSON manifest string. */
  apply(manifest: string): Promise<string>;
  /** Raw authenticated request to the apiserver as admin, e.g. api('GET', '/api/v1/nodes'). */
  api(method: string, urlPath: string, body?: unknown, contentType?: string): Promise<ApiResponse>;
  /** Create more fake nodes and wait until they are Ready and schedulable. */
  addNodes(nodes: FakeNode[]): Promise<void>;
  /** Issue a certificate signed by the cluster CA (e.g. a webhook serving cert with IP SAN 127.0.0.1). */
  issueCert(opts: IssueCertOptions): Promise<IssuedCert>;
  /** Last `lines` lines of a component's log. */
  logTail(component: ComponentName, lines?: number): Promise<string>;
  /** Path of a component's log file. */
  logFile(component: ComponentName): string;
  /** The apiserver's Prometheus text exposition (/metrics). */
  metrics(): Promise<string>;
  /** Parsed admission-webhook latency histograms from /metrics. */
  webhookAdmissionMetrics(): Promise<WebhookLatency[]>;
  /** Kill every process and remove the temp dir (unless keepDir). Idempotent, never throws. */
  stop(): Promise<void>;
}

export interface IssueCertOptions {
  /** File base name inside <dir>/pki (letters, digits, '-', '_'). */
  name: string;
  commonName: string;
  organizations?: string[];
  ipSANs?: string[];
  dnsSANs?: string[];
  /** 'server' (default), 'client' or 'both'. */
  usage?: 'server' | 'client' | 'both';
}

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function get(v: unknown, ...keys: (string | number)[]): unknown {
  let cur: unknown = v;
  for (const k of keys) {
    if (typeof k === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = (cur as unknown[])[k];
    } else {
      if (!isRecord(cur)) return undefined;
      cur = cur[k];
    }
  }
  return cur;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [];
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Run a command; resolves with its output and exit code (never rejects). */
export function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      resolve({ stdout: '', stderr: String(err), code: -1 });
      return;
    }
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => errb.push(b));
    const timer = setTimeout(() => {
      errb.push(Buffer.from(`\n[killed after ${opts.timeoutMs ?? 120_000} ms timeout]\n`));
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    let spawnError: string | undefined;
    child.on('error', (err) => {
      spawnError = String(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errb).toString('utf8') + (spawnError ?? ''),
        code: code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : -1),
      });
    });
    child.stdin?.on('error', () => {
      /* child exited before reading stdin */
    });
    child.stdin?.end(opts.input ?? '');
  });
}

async function runOk(cmd: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} exited ${r.code}\n${r.stderr.trim()}\n${r.stdout.trim()}`.trim(),
    );
  }
  return r.stdout;
}

/** Reserve `n` distinct free TCP ports on 127.0.0.1 (all held open at once, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
          resolve();
        });
      });
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') throw new Error('unexpected listen address');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.close(() => {
              r();
            });
          }),
      ),
    );
  }
}

async function tailFile(file: string, lines: number): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    const all = text.split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------------

const REQUIRED_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
  'kwok-stages.yaml',
  'helm',
  'helm4',
] as const;

/**
 * The directory that holds the binaries `npm run setup` built. Builds nothing: when a binary is
 * missing or stale this throws at once, naming the set-up command (a cold build takes minutes
 * and must not run inside a test's timeout).
 */
export async function ensureBinaries(log: (msg: string) => void = defaultLog): Promise<string> {
  const fromEnv = process.env['KNI_E2E_BIN_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') {
    checkBinDir(fromEnv);
    return fromEnv;
  }
  const dir = await binaryDir();
  checkBinDir(dir);
  log(`binaries in ${dir}`);
  return dir;
}

/** `build-binaries.sh --check`: the binary directory, or an error naming `npm run setup`. */
export async function binaryDir(): Promise<string> {
  const r = await run('bash', [BUILD_SCRIPT, '--check']);
  if (r.code !== 0) {
    throw new Error(`control-plane binaries are not set up: ${r.stderr.trim()}`);
  }
  return r.stdout.trim().split('\n').at(-1) ?? '';
}

function checkBinDir(dir: string): void {
  const missing = REQUIRED_BINARIES.filter((b) => !existsSync(path.join(dir, b)));
  if (missing.length > 0) throw new Error(`binary dir ${dir} lacks: ${missing.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// PKI (openssl CLI)
// ---------------------------------------------------------------------------------------------

async function ensureOpenssl(): Promise<void> {
  const r = await run('openssl', ['version']);
  if (r.code !== 0) {
    throw new Error('openssl not found: install it (Debian: apt-get install -y openssl) or run .ci/run');
  }
}

async function genKey(file: string): Promise<void> {
  await runOk('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    file,
  ]);
}

function opensslSubject(cn: string, orgs: string[]): string {
  const esc = (s: string): string => s.replace(/[/\\=]/g, (c) => `\\${c}`);
  return orgs.map((o) => `/O=${esc(o)}`).join('') + `/CN=${esc(cn)}`;
}

async function createCA(pki: string): Promise<void> {
  const key = path.join(pki, 'ca.key');
  await genKey(key);
  await runOk('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-subj',
    '/CN=kni-e2e-ca',
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out',
    path.join(pki, 'ca.crt'),
  ]);
}

async function issueCertIn(pki: string, o: IssueCertOptions): Promise<IssuedCert> {
  if (!/^[A-Za-z0-9_-]+$/.test(o.name)) throw new Error(`bad certificate name ${o.name}`);
  const keyFile = path.join(pki, `${o.name}.key`);
  const certFile = path.join(pki, `${o.name}.crt`);
  const csr = path.join(pki, `${o.name}.csr`);
  const ext = path.join(pki, `${o.name}.ext`);
  const caFile = path.join(pki, 'ca.crt');
  await genKey(keyFile);
  await runOk('openssl', [
    'req',
    '-new',
    '-key',
    keyFile,
    '-subj',
    opensslSubject(o.commonName, o.organizations ?? []),
    '-out',
    csr,
  ]);
  const usage = o.usage ?? 'server';
  const eku = usage === 'server' ? 'serverAuth' : usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const sans = [...(o.ipSANs ?? []).map((ip) => `IP:${ip}`), ...(o.dnsSANs ?? []).map((d) => `DNS:${d}`)];
  const lines = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
  ];
  if (sans.length > 0) lines.push(`subjectAltName=${sans.join(',')}`);
  await writeFile(ext, lines.join('\n') + '\n');
  await runOk('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caFile,
    '-CAkey',
    path.join(pki, 'ca.key'),
    '-set_serial',
    `0x${randomBytes(12).toString('hex')}`,
    '-days',
    '3650',
    '-extfile',
    ext,
    '-out',
    certFile,
  ]);
  return {
    certFile,
    keyFile,
    caFile,
    certPem: await readFile(certFile, 'utf8'),
    keyPem: await readFile(keyFile, 'utf8'),
    caPem: await readFile(caFile, 'utf8'),
  };
}

function kubeconfigYaml(server: string, caFile: string, certFile: string, keyFile: string): string {
  // JSON is valid YAML; avoids quoting issues with paths.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kni-e2e', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: 'user', user: { 'client-certificate': certFile, 'client-key': keyFile } }],
      contexts: [{ name: 'kni-e2e', context: { cluster: 'kni-e2e', user: 'user', namespace: 'default' } }],
      'current-context': 'kni-e2e',
      preferences: {},
    },
    null,
    2,
  );
}

// ---------------------------------------------------------------------------------------------
// Process supervision
// ---------------------------------------------------------------------------------------------

interface Proc {
  name: ComponentName;
  child: ChildProcess;
  logFile: string;
  exited: boolean;
  exitDescription: string;
  done: Promise<void>;
}

/** Every live child of every cluster in this Node process: killed on exit / SIGINT / SIGTERM. */
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

function killAllSync(): void {
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveChildren.clear();
  for (const d of liveDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  liveDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllSync();
      process.exit(128 + (SIGNALS[sig] ?? 0));
    });
  }
}

/**
 * util-linux `setpriv --pdeathsig KILL` makes the kernel SIGKILL a component when the Node process
 * dies, even by SIGKILL (which no exit hook can catch). Used when available.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function startProc(name: ComponentName, bin: string, args: string[], logFile: string): Proc {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  const [cmd, argv] =
    SETPRIV !== undefined ? [SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, args];
  try {
    child = spawn(cmd, argv, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
    });
  } finally {
    closeSync(fd);
  }
  liveChildren.add(child);
  const proc: Proc = {
    name,
    child,
    logFile,
    exited: false,
    exitDescription: '',
    done: Promise.resolve(),
  };
  proc.done = new Promise<void>((resolve) => {
    child.on('error', (err) => {
      proc.exited = true;
      proc.exitDescription = `failed to start: ${String(err)}`;
      liveChildren.delete(child);
      resolve();
    });
    child.on('exit', (code, signal) => {
      proc.exited = true;
      proc.exitDescription = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      liveChildren.delete(child);
      resolve();
    });
  });
  return proc;
}

/** Resolves true if `p` settled within `ms`, false otherwise; never leaves a timer behind. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function stopProc(p: Proc, graceMs: number): Promise<void> {
  if (p.exited) return;
  p.child.kill('SIGTERM');
  if (!(await settlesWithin(p.done, graceMs))) {
    p.child.kill('SIGKILL');
    await settlesWithin(p.done, 5000);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP probes
// ---------------------------------------------------------------------------------------------

interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

function httpRequest(
  url: string,
  opts: {
    method?: string;
    body?: string;
    contentType?: string;
    tls?: Partial<TlsMaterial>;
    insecure?: boolean;
    timeoutMs?: number;
  } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    }
    const common = { method: opts.method ?? 'GET', headers, timeout: opts.timeoutMs ?? 30_000 };
    const onRes = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    };
    const req =
      u.protocol === 'https:'
        ? https.request(
            u,
            {
              ...common,
              ca: opts.tls?.ca,
              cert: opts.tls?.cert,
              key: opts.tls?.key,
              rejectUnauthorized: opts.insecure !== true,
              agent: false,
            },
            onRes,
          )
        : http.request(u, { ...common, agent: false }, onRes);
    req.on('timeout', () => req.destroy(new Error(`timeout ${url}`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Poll `check` until it returns a value other than undefined, failing fast if a watched process dies. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; procs?: Proc[] },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastErr = '';
  for (;;) {
    for (const p of opts.procs ?? []) {
      if (p.exited) {
        throw new ComponentError(p, `${p.name} ${p.exitDescription} while waiting for ${what}`);
      }
    }
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      const culprit = opts.procs?.at(-1);
      const msg = `timed out after ${opts.timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}`;
      if (culprit) throw new ComponentError(culprit, msg);
      throw new Error(msg);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

class ComponentError extends Error {
  component: ComponentName;
  logFile: string;
  constructor(p: Proc, message: string) {
    super(message);
    this.name = 'ComponentError';
    this.component = p.name;
    this.logFile = p.logFile;
  }
}

// ---------------------------------------------------------------------------------------------
// Admission webhook metrics
// ---------------------------------------------------------------------------------------------

export interface HistogramBucket {
  /** Upper bound in seconds (Infinity for +Inf). */
  le: number;
  /** Cumulative count. */
  count: number;
}

export interface WebhookLatency {
  /** Webhook name (webhooks[].name in the configuration). */
  name: string;
  /** CREATE / UPDATE / DELETE / CONNECT. */
  operation: string;
  /** 'admit' (mutating) or 'validating'. */
  type: string;
  rejected: string;
  count: number;
  sumSeconds: number;
  buckets: HistogramBucket[];
}

const WEBHOOK_METRIC = 'apiserver_admission_webhook_admission_duration_seconds';

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const k = m[1];
    const v = m[2];
    if (k !== undefined && v !== undefined)
      out[k] = v.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

/** Parse `apiserver_admission_webhook_admission_duration_seconds` histograms from Prometheus text. */
export function parseWebhookAdmissionMetrics(text: string): WebhookLatency[] {
  const byKey = new Map<string, WebhookLatency>();
  const lineRe = new RegExp(`^${WEBHOOK_METRIC}_(bucket|sum|count)\\{([^}]*)\\}\\s+(\\S+)`);
  for (const line of text.split('\n')) {
    const m = lineRe.exec(line);
    if (m === null) continue;
    const kind = m[1];
    const labels = parseLabels(m[2] ?? '');
    const value = Number(m[3]);
    const name = labels['name'] ?? '';
    const operation = labels['operation'] ?? '';
    const type = labels['type'] ?? '';
    const rejected = labels['rejected'] ?? '';
    const key = [name, operation, type, rejected].join('\u0000');
    let h = byKey.get(key);
    if (h === undefined) {
      h = { name, operation, type, rejected, count: 0, sumSeconds: 0, buckets: [] };
      byKey.set(key, h);
    }
    if (kind === 'bucket') {
      const le = labels['le'] === '+Inf' ? Infinity : Number(labels['le']);
      h.buckets.push({ le, count: value });
    } else if (kind === 'sum') {
      h.sumSeconds = value;
    } else {
      h.count = value;
    }
  }
  for (const h of byKey.values()) h.buckets.sort((a, b) => a.le - b.le);
  return [...byKey.values()];
}

/** after - before, per (name, operation, type, rejected): the latencies of what happened in between. */
export function diffWebhookLatency(before: WebhookLatency[], after: WebhookLatency[]): WebhookLatency[] {
  const key = (h: WebhookLatency): string => [h.name, h.operation, h.type, h.rejected].join('\u0000');
  const prev = new Map(before.map((h) => [key(h), h]));
  return after
    .map((h) => {
      const p = prev.get(key(h));
      if (p === undefined) return h;
      return {
        ...h,
        count: h.count - p.count,
        sumSeconds: h.sumSeconds - p.sumSeconds,
        buckets: h.buckets.map((b) => ({
          le: b.le,
          count: b.count - (p.buckets.find((x) => x.le === b.le)?.count ?? 0),
        })),
      };
    })
    .filter((h) => h.count > 0);
}

/**
 * Estimate a quantile (0..1) from cumulative buckets, like PromQL histogram_quantile (linear
 * interpolation inside the bucket). Returns NaN when the histogram is empty.
 */
export function histogramQuantile(q: number, h: WebhookLatency): number {
  const total = h.buckets.at(-1)?.count ?? h.count;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/**
 * kube-apiserver derives its advertise address from the default route's interface and refuses
 * to start without one ("unable to find suitable network address"); loopback is rejected too.
 * With --endpoint-reconciler-type=none the address is only data, so in a network namespace
 * without a default route pass a TEST-NET-3 address that nothing ever dials.
 */
async function needsAdvertiseAddress(): Promise<boolean> {
  try {
    const table = await readFile('/proc/net/route', 'utf8');
    return !table
      .split('\n')
      .slice(1)
      .some((line) => line.split(/\s+/)[1] === '00000000');
  } catch {
    return false;
  }
}

const OWNER_FILE = 'owner.pid';

/**
 * Remove temp dirs of earlier clusters whose Node process died without cleaning up (SIGKILL;
 * their components died with it through --pdeathsig). Only dirs carrying our owner.pid file.
 */
async function sweepStaleDirs(tmpRoot: string): Promise<void> {
  let entries: string[];
  try {
    entries = (await readdir(tmpRoot)).filter((e) => e.startsWith('kni-e2e-'));
  } catch {
    return;
  }
  for (const e of entries) {
    const d = path.join(tmpRoot, e);
    let pid: number;
    try {
      pid = Number((await readFile(path.join(d, OWNER_FILE), 'utf8')).trim());
    } catch {
      continue;
    }
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await rm(d, { recursive: true, force: true }).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster
// ---------------------------------------------------------------------------------------------

function defaultLog(msg: string): void {
  console.error(`[e2e-cluster] ${msg}`);
}

function nodeManifest(n: FakeNode): Record<string, unknown> {
  const addresses: { type: string; address: string }[] = [{ type: 'InternalIP', address: n.internalIP }];
  if (n.externalIP !== undefined) addresses.push({ type: 'ExternalIP', address: n.externalIP });
  addresses.push({ type: 'Hostname', address: n.name });
  const capacity = {
    cpu: n.capacity?.cpu ?? '16',
    memory: n.capacity?.memory ?? '64Gi',
    'ephemeral-storage': n.capacity?.ephemeralStorage ?? '100Gi',
    pods: n.capacity?.pods ?? '110',
  };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...n.labels,
      },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', ...n.annotations },
    },
    spec: n.taints !== undefined && n.taints.length > 0 ? { taints: n.taints } : {},
    status: { addresses, capacity, allocatable: capacity },
  };
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? defaultLog;
  installExitHooks();
  // A cold build of the binaries takes minutes: the start-up timeout starts after it.
  const binDir = opts.binDir ?? (await ensureBinaries(log));
  checkBinDir(binDir);
  const t0 = Date.now();
  const elapsed = (): string => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  const startTimeoutMs = opts.startTimeoutMs ?? 180_000;
  const deadline = t0 + startTimeoutMs;
  const remaining = (): number => Math.max(1000, deadline - Date.now());

  await ensureOpenssl();
  const bin = (name: string): string => path.join(binDir, name);

  const tmpRoot = opts.tmpRoot ?? tmpdir();
  await mkdir(tmpRoot, { recursive: true });
  await sweepStaleDirs(tmpRoot);
  const dir = await mkdtemp(path.join(tmpRoot, 'kni-e2e-'));
  await writeFile(path.join(dir, OWNER_FILE), String(process.pid));
  const keep = opts.keepDir === true || process.env['KNI_E2E_KEEP'] === '1';
  if (!keep) liveDirs.add(dir);
  const pki = path.join(dir, 'pki');
  const logs = path.join(dir, 'logs');
  await mkdir(pki, { recursive: true });
  await mkdir(logs, { recursive: true });

  const procs: Proc[] = [];
  let provisioner: { stop: () => Promise<void> } | undefined;
  let stopped: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        await provisioner?.stop();
      } catch {
        /* ignore */
      }
      // Reverse start order: kwok, scheduler, KCM, apiserver, etcd.
      for (const p of [...procs].reverse()) {
        try {
          await stopProc(p, p.name === 'etcd' ? 10_000 : 5_000);
        } catch {
          /* ignore */
        }
      }
      if (keep) {
        log(`kept ${dir}`);
      } else {
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        liveDirs.delete(dir);
      }
    })();
    return stopped;
  };

  const logFile = (c: ComponentName): string => path.join(logs, `${c}.log`);

  try {
    // ---- ports, PKI, kubeconfigs ----
    const [etcdClient, etcdPeer, apiserverPort, kcmPort, schedPort, kwokPort] = await freePorts(6);
    if (
      etcdClient === undefined ||
      etcdPeer === undefined ||
      apiserverPort === undefined ||
      kcmPort === undefined ||
      schedPort === undefined ||
      kwokPort === undefined
    ) {
      throw new Error('could not reserve ports');
    }
    const ports: ClusterPorts = {
      etcdClient,
      etcdPeer,
      apiserver: apiserverPort,
      controllerManager: kcmPort,
      scheduler: schedPort,
      kwok: kwokPort,
    };
    const server = `https://127.0.0.1:${apiserverPort}`;

    await createCA(pki);
    const caFile = path.join(pki, 'ca.crt');
    const [apiserverCert, admin, kcmCert, schedCert] = await Promise.all([
      issueCertIn(pki, {
        name: 'apiserver',
        commonName: 'kube-apiserver',
        ipSANs: ['127.0.0.1', '10.0.0.1'],
        dnsSANs: [
          'localhost',
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          'kubernetes.default.svc.cluster.local',
        ],
        usage: 'server',
      }),
      issueCertIn(pki, {
        name: 'admin',
        commonName: 'kni-e2e-admin',
        organizations: ['system:masters'],
        usage: 'client',
      }),
      issueCertIn(pki, {
        name: 'kube-controller-manager',
        commonName: 'system:kube-controller-manager',
        usage: 'client',
      }),
      issueCertIn(pki, { name: 'kube-scheduler', commonName: 'system:kube-scheduler', usage: 'client' }),
    ]);
    // Service-account token signing key pair (RSA, as kubeadm).
    const saKey = path.join(pki, 'sa.key');
    const saPub = path.join(pki, 'sa.pub');
    await runOk('openssl', [
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      saKey,
    ]);
    await runOk('openssl', ['pkey', '-in', saKey, '-pubout', '-out', saPub]);

    const kubeconfigPath = path.join(dir, 'admin.kubeconfig');
    const kcmKubeconfig = path.join(dir, 'kube-controller-manager.kubeconfig');
    const schedKubeconfig = path.join(dir, 'kube-scheduler.kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(server, caFile, admin.certFile, admin.keyFile));
    await writeFile(kcmKubeconfig, kubeconfigYaml(server, caFile, kcmCert.certFile, kcmCert.keyFile));
    await writeFile(schedKubeconfig, kubeconfigYaml(server, caFile, schedCert.certFile, schedCert.keyFile));
    const tls: TlsMaterial = { ca: admin.caPem, cert: admin.certPem, key: admin.keyPem };
    log(`PKI and kubeconfigs in ${dir} (${elapsed()})`);

    // ---- etcd ----
    const etcd = startProc(
      'etcd',
      bin('etcd'),
      [
        '--name=e2e',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=e2e=http://127.0.0.1:${etcdPeer}`,
        '--initial-cluster-state=new',
        '--unsafe-no-fsync',
        `--quota-backend-bytes=${2 * 1024 * 1024 * 1024}`,
        '--auto-compaction-retention=1',
        '--log-level=warn',
      ],
      logFile('etcd'),
    );
    procs.push(etcd);
    await waitFor(
      'etcd /health',
      async () => {
        const r = await httpRequest(`http://127.0.0.1:${etcdClient}/health`, { timeoutMs: 2000 });
        return r.status === 200 && get(parseJson(r.text), 'health') === 'true' ? true : undefined;
      },
      { timeoutMs: remaining(), procs: [etcd] },
    );
    log(`etcd ready on :${etcdClient} (${elapsed()})`);

    // ---- kube-apiserver ----
    const apiserver = startProc(
      'kube-apiserver',
      bin('kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${apiserverPort}`,
        `--tls-cert-file=${apiserverCert.certFile}`,
        `--tls-private-key-file=${apiserverCert.keyFile}`,
        `--client-ca-file=${caFile}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=Node,RBAC',
        '--allow-privileged=true',
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        ...((await needsAdvertiseAddress()) ? ['--advertise-address=203.0.113.1'] : []),
        ...(opts.apiserverArgs ?? []),
      ],
      logFile('kube-apiserver'),
    );
    procs.push(apiserver);
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        const r = await httpRequest(`${server}/readyz`, { tls: { ca: tls.ca }, timeoutMs: 5000 });
        return r.status === 200 ? true : undefined;
      },
      { timeoutMs: remaining(), procs: [etcd, apiserver] },
    );
    log(`kube-apiserver ready on :${apiserverPort} (${elapsed()})`);

    const api = async (
      method: string,
      urlPath: string,
      body?: unknown,
      contentType?: string,
    ): Promise<ApiResponse> => {
      const r = await httpRequest(`${server}${urlPath}`, {
        method,
        tls,
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
        ...(contentType === undefined ? {} : { contentType }),
      });
      return { status: r.status, text: r.text, json: parseJson(r.text) };
    };

    // ---- kube-controller-manager and kube-scheduler ----
    const kcm = startProc(
      'kube-controller-manager',
      bin('kube-controller-manager'),
      [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        '--leader-elect=false',
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${caFile}`,
        '--use-service-account-credentials=true',
        '--controllers=*',
        // react quickly to the test's PVs
        '--pvclaimbinder-sync-period=2s',
        // lift the not-ready taint of new (kwok) nodes sooner than the default 5 s period
        '--node-monitor-period=1s',
        ...(opts.controllerManagerArgs ?? []),
      ],
      logFile('kube-controller-manager'),
    );
    procs.push(kcm);
    const sched = startProc(
      'kube-scheduler',
      bin('kube-scheduler'),
      [
        `--kubeconfig=${schedKubeconfig}`,
        `--authentication-kubeconfig=${schedKubeconfig}`,
        `--authorization-kubeconfig=${schedKubeconfig}`,
        '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
        '--bind-address=127.0.0.1',
        `--secure-port=${schedPort}`,
        '--leader-elect=false',
        ...(opts.schedulerArgs ?? []),
      ],
      logFile('kube-scheduler'),
    );
    procs.push(sched);

    // ---- kwok (fake kubelets) ----
    const kwok = startProc(
      'kwok',
      bin('kwok'),
      [
        `--kubeconfig=${kubeconfigPath}`,
        `--config=${bin('kwok-stages.yaml')}`,
        '--manage-all-nodes=true',
        '--node-ip=203.0.113.254',
        '--cidr=10.244.0.0/16',
        '--node-lease-duration-seconds=40',
        `--server-address=127.0.0.1:${kwokPort}`,
      ],
      logFile('kwok'),
    );
    procs.push(kwok);

    const healthz = async (port: number): Promise<true | undefined> => {
      const r = await httpRequest(`https://127.0.0.1:${port}/healthz`, { insecure: true, timeoutMs: 2000 });
      return r.status === 200 ? true : undefined;
    };
    await Promise.all([
      waitFor('kube-controller-manager /healthz', () => healthz(kcmPort), {
        timeoutMs: remaining(),
        procs: [etcd, apiserver, kcm],
      }),
      waitFor('kube-scheduler /healthz', () => healthz(schedPort), {
        timeoutMs: remaining(),
        procs: [etcd, apiserver, sched],
      }),
      waitFor(
        'kwok /healthz',
        async () => {
          const r = await httpRequest(`http://127.0.0.1:${kwokPort}/healthz`, { timeoutMs: 2000 });
          return r.status === 200 ? true : undefined;
        },
        { timeoutMs: remaining(), procs: [etcd, apiserver, kwok] },
      ),
    ]);
    log(`kube-controller-manager, kube-scheduler, kwok healthy (${elapsed()})`);

    // The ServiceAccount admission plugin rejects pods until the SA controller made `default`.
    await waitFor(
      'ServiceAccount default/default',
      async () =>
        (await api('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200
          ? true
          : undefined,
      { timeoutMs: remaining(), procs: [apiserver, kcm] },
    );

    log(`ServiceAccount default/default exists (${elapsed()})`);

    if (opts.provisionVolumes !== false) {
      provisioner = startVolumeProvisioner(api, log);
    }

    const addNodes = async (nodes: FakeNode[]): Promise<void> => {
      for (const n of nodes) {
        const r = await api('POST', '/api/v1/nodes', nodeManifest(n));
        if (r.status !== 201) throw new Error(`create node ${n.name}: HTTP ${r.status}: ${r.text}`);
        // Status sent on create is kept today; patch it if a future version drops it.
        const addrs = asArray(get(r.json, 'status', 'addresses'));
        if (!addrs.some((a) => get(a, 'address') === n.internalIP)) {
          const manifest = nodeManifest(n);
          const p = await api(
            'PATCH',
            `/api/v1/nodes/${encodeURIComponent(n.name)}/status`,
            { status: manifest['status'] },
            'application/merge-patch+json',
          );
          if (p.status !== 200) throw new Error(`patch node ${n.name} status: HTTP ${p.status}: ${p.text}`);
        }
      }
      const names = new Set(nodes.map((n) => n.name));
      await waitFor(
        `nodes Ready and untainted: ${[...names].join(', ')}`,
        async () => {
          const r = await api('GET', '/api/v1/nodes');
          const ready = asArray(get(r.json, 'items')).filter((item) => {
            const name = asString(get(item, 'metadata', 'name'));
            if (name === undefined || !names.has(name)) return false;
            const isReady = asArray(get(item, 'status', 'conditions')).some(
              (c) => get(c, 'type') === 'Ready' && get(c, 'status') === 'True',
            );
            const notReadyTaint = asArray(get(item, 'spec', 'taints')).some((t) =>
              asString(get(t, 'key'))?.startsWith('node.kubernetes.io/'),
            );
            return isReady && !notReadyTaint;
          });
          return ready.length === names.size ? true : undefined;
        },
        { timeoutMs: 120_000, procs: [apiserver, kcm, kwok] },
      );
    };

    if (opts.nodes !== undefined && opts.nodes.length > 0) {
      await addNodes(opts.nodes);
      log(`${opts.nodes.length} fake node(s) Ready (${elapsed()})`);
    }

    const helmHome = path.join(dir, 'helm');
    const toolEnv = (extra?: Record<string, string>): Record<string, string> => ({
      KUBECONFIG: kubeconfigPath,
      HELM_CACHE_HOME: path.join(helmHome, 'cache'),
      HELM_CONFIG_HOME: path.join(helmHome, 'config'),
      HELM_DATA_HOME: path.join(helmHome, 'data'),
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
      ...extra,
    });
    const kubectl = (args: string[], o: ExecOptions = {}): Promise<ExecResult> =>
      run(bin('kubectl'), args, { ...o, env: toolEnv(o.env) });
    const helm = (args: string[], o: ExecOptions = {}): Promise<ExecResult> =>
      run(bin('helm'), args, { ...o, env: toolEnv(o.env) });
    const kubectlOk = (args: string[], o: ExecOptions = {}): Promise<string> =>
      runOk(bin('kubectl'), args, { ...o, env: toolEnv(o.env) });
    const helmOk = (args: string[], o: ExecOptions = {}): Promise<string> =>
      runOk(bin('helm'), args, { ...o, env: toolEnv(o.env) });
    const helm4 = (args: string[], o: ExecOptions = {}): Promise<ExecResult> =>
      run(bin('helm4'), args, { ...o, env: toolEnv(o.env) });
    const metrics = async (): Promise<string> => {
      const r = await api('GET', '/metrics');
      if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
      return r.text;
    };

    log(`cluster up in ${elapsed()}: ${server}, kubeconfig ${kubeconfigPath}`);
    return {
      kubeconfigPath,
      server,
      caFile,
      caKeyFile: path.join(pki, 'ca.key'),
      adminCertFile: admin.certFile,
      adminKeyFile: admin.keyFile,
      dir,
      binDir,
      ports,
      kubectl,
      helm,
      kubectlOk,
      helmOk,
      helm4,
      apply: (manifest: string) => kubectlOk(['apply', '-f', '-'], { input: manifest }),
      api,
      addNodes,
      issueCert: (o: IssueCertOptions) => issueCertIn(pki, o),
      logTail: (c: ComponentName, lines = 40) => tailFile(logFile(c), lines),
      logFile,
      metrics,
      webhookAdmissionMetrics: async () => parseWebhookAdmissionMetrics(await metrics()),
      stop,
    };
  } catch (err) {
    const component = err instanceof ComponentError ? err.component : procs.at(-1)?.name;
    if (component !== undefined) {
      log(`start-up failed; last lines of ${component}.log:\n${await tailFile(logFile(component), 40)}`);
    }
    for (const p of procs) {
      if (p.exited && p.name !== component) {
        log(`${p.name} ${p.exitDescription}; last lines of ${p.name}.log:\n${await tailFile(p.logFile, 20)}`);
      }
    }
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Volume "provisioner": pre-bound hostPath PVs for Pending PVCs
// ---------------------------------------------------------------------------------------------

type ApiFn = (method: string, urlPath: string, body?: unknown, contentType?: string) => Promise<ApiResponse>;

/**
 * Nothing provisions volumes in this cluster. Every second, for each Pending PVC without a
 * volume, create a PersistentVolume with the claim's class, size, access modes and volume mode,
 * pre-bound through spec.claimRef; kube-controller-manager's persistentvolume-binder then binds
 * both. The hostPath is never used (kwok runs no containers).
 */
function startVolumeProvisioner(api: ApiFn, log: (msg: string) => void): { stop: () => Promise<void> } {
  const state = { running: true };
  const isRunning = (): boolean => state.running;
  const created = new Set<string>();
  const loop = (async () => {
    while (isRunning()) {
      try {
        const r = await api('GET', '/api/v1/persistentvolumeclaims');
        for (const pvc of asArray(get(r.json, 'items'))) {
          const uid = asString(get(pvc, 'metadata', 'uid'));
          const name = asString(get(pvc, 'metadata', 'name'));
          const ns = asString(get(pvc, 'metadata', 'namespace'));
          if (uid === undefined || name === undefined || ns === undefined) continue;
          if (get(pvc, 'status', 'phase') !== 'Pending' || get(pvc, 'spec', 'volumeName') !== undefined)
            continue;
          if (get(pvc, 'metadata', 'deletionTimestamp') !== undefined || created.has(uid)) continue;
          const storage = asString(get(pvc, 'spec', 'resources', 'requests', 'storage')) ?? '1Gi';
          const pv = {
            apiVersion: 'v1',
            kind: 'PersistentVolume',
            metadata: { name: `e2e-pv-${uid}`, labels: { 'kni-e2e/provisioned': 'true' } },
            spec: {
              capacity: { storage },
              accessModes: asArray(get(pvc, 'spec', 'accessModes')).length
                ? get(pvc, 'spec', 'accessModes')
                : ['ReadWriteOnce'],
              volumeMode: asString(get(pvc, 'spec', 'volumeMode')) ?? 'Filesystem',
              storageClassName: asString(get(pvc, 'spec', 'storageClassName')) ?? '',
              persistentVolumeReclaimPolicy: 'Retain',
              claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name, uid },
              hostPath: { path: `/tmp/kni-e2e-pv/${uid}`, type: 'DirectoryOrCreate' },
            },
          };
          const c = await api('POST', '/api/v1/persistentvolumes', pv);
          if (c.status === 201 || c.status === 409) {
            created.add(uid);
            if (c.status === 201) log(`provisioned PV e2e-pv-${uid} for PVC ${ns}/${name} (${storage})`);
          } else {
            log(`creating PV for PVC ${ns}/${name} failed: HTTP ${c.status}: ${c.text.slice(0, 300)}`);
          }
        }
      } catch {
        /* apiserver busy or stopping: retry */
      }
      for (let i = 0; i < 10 && isRunning(); i++) await sleep(100);
    }
  })();
  return {
    stop: async () => {
      state.running = false;
      await loop;
    },
  };
}
