/**
 * `npm run bench`: the webhook against a floor server, then the mutation core against JSON.parse.
 *
 * One run starts three processes: the real `serve` (the built binary), the floor (bench/floorServer.ts)
 * and the load generator (bench/loadGenerator.ts, autocannon). The servers share one CPU, the load
 * generator has the other, and only one server is under load at a time: for each round and each
 * request kind, the floor (A) then the webhook (B), same connections and duration.
 *
 *   npm run bench                 # full: 5 rounds x 5 s per server and request kind (6+ minutes)
 *   npm run bench -- --quick      # smoke: 2 rounds x 1 s (under a minute); exits 1 on any error
 *   npm run bench -- --profile    # also profiles each server under the mix (node --cpu-prof)
 *
 * Options: --rounds N, --duration S, --warmup S, --connections N, --retries N, --quiet-wait S,
 * --server-flags "FLAGS", --no-pin, --skip-core, --skip-http.
 * Writes bench/results/latest.json and prints the tables; see bench/README.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TLS_CONTEXT_OPTIONS } from '../src/server/app.ts';
import { runCoreBench, type CoreResult } from './coreBench.ts';
import { printScale, runScaleBench, type ScaleResult } from './scaleBench.ts';
import { startCluster } from '../test/e2e/cluster.ts';
import { INJECT_LABEL } from '../src/core/config.ts';
import { NODE_ADDRESS_MAP } from '../src/core/nodeAddresses.ts';
import type { LoadJob, LoadMessage, LoadResult } from './loadGenerator.ts';
import {
  canPin,
  endChildrenOnSignal,
  track,
  cpuMsOf,
  cpuTimes,
  syscallsOf,
  httpsRequest,
  http2Request,
  memoryOf,
  pinned,
  RssSampler,
  startServer,
  stopServer,
  type Started,
} from './processes.ts';
import { profileTables, summariseProfile, type ProfileSummary } from './profile.ts';
import { admissionScenarios, RENDERED_DIR, type Scenario } from './requests.ts';
import { median, round, spread, table, type Spread } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');
const BIN = join(ROOT, 'bin', 'kafka-nodeport-injector');

/**
 * Issue 15's targets, as ratios to the floor measured in the same run (the p99 ones are issue 6's,
 * kept for comparison).
 */
export const TARGETS = {
  throughputRatioMin: 0.5,
  p99FactorMax: 1.2,
  p99SlackMs: 1,
  mutationOverParseMax: 2,
  /** Issue 22: memory as ratios to baselines of the same run (the floor alone peaks ~105 MiB). */
  peakRssOverFloorMax: 1.3,
  idleRssOverBareMax: 1.3,
  growthExponentMax: 1.1,
} as const;

type ServerName = 'floor' | 'webhook';
const SERVERS: ServerName[] = ['floor', 'webhook'];
/** With pinning: both servers on this CPU, the load generator and this process on CPU 0. */
const SERVER_CPU = 1;
/**
 * A run in which more than this share of the servers' CPU went to something else (other processes
 * on a shared machine, steal) is disturbed: its pair is run again, up to `--retries` times.
 */
const DISTURBED_OTHER_CPU = 0.15;

interface Options {
  quick: boolean;
  /** Issue 22's scale benchmark on a real control plane (scaleBench.ts). */
  scale: boolean;
  rounds: number;
  durationSec: number;
  warmupSec: number;
  connections: number;
  pin: boolean;
  /** Pause between load jobs, so the previous server's background GC is over before the next one. */
  settleMs: number;
  /** How often a disturbed floor/webhook pair is run again. */
  retries: number;
  /** Before each pair, wait up to this long for the servers' CPU to be quiet. */
  quietWaitSec: number;
  /** Extra Node flags for both servers (e.g. heap sizes a deployment would set). */
  serverFlags: string[];
  profile: boolean;
  core: boolean;
  http: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      retries: { type: 'string' },
      'quiet-wait': { type: 'string' },
      'server-flags': { type: 'string', default: deployedNodeOptions() },
      'no-pin': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'skip-core': { type: 'boolean', default: false },
      'skip-http': { type: 'boolean', default: false },
      'skip-scale': { type: 'boolean', default: false },
    },
  });
  const number = (
    value: string | undefined,
    fallback: number,
    flag: string,
    min = Number.MIN_VALUE,
  ): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${flag}: expected a number >= ${min}, got ${value}`);
    return n;
  };
  const quick = values.quick;
  return {
    quick,
    rounds: Math.round(number(values.rounds, quick ? 2 : 5, 'rounds')),
    durationSec: number(values.duration, quick ? 1 : 5, 'duration'),
    warmupSec: number(values.warmup, quick ? 0.3 : 2, 'warmup'),
    connections: Math.round(number(values.connections, 10, 'connections')),
    pin: !values['no-pin'] && canPin(),
    settleMs: quick ? 100 : 500,
    retries: Math.round(number(values.retries, quick ? 0 : 3, 'retries', 0)),
    quietWaitSec: number(values['quiet-wait'], quick ? 0 : 30, 'quiet-wait', 0),
    serverFlags: values['server-flags'].split(/\s+/).filter((f) => f !== ''),
    profile: values.profile,
    core: !values['skip-core'],
    http: !values['skip-http'],
    scale: !values['skip-scale'],
  };
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** dist/ is what the binary runs: build it when it is missing or older than src/. */
function ensureBuilt(): void {
  const main = join(ROOT, 'dist', 'cli', 'main.js');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
      const path = join(dir, entry.name);
      return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }, 0);
  if (existsSync(main) && statSync(main).mtimeMs >= newest(join(ROOT, 'src'))) return;
  say('building dist/ (missing or older than src/) ...');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const built = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (built.status !== 0) throw new Error('npm run build failed: the bench runs the built binary');
}

/** The child's environment without a cluster: no kubeconfig, no in-cluster detection. */
function serverEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.KUBERNETES_SERVICE_PORT;
  return env;
}

interface Servers {
  floor: Started;
  webhook: Started;
}

interface Work {
  dir: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
  auditFile: string;
}

/**
 * The Node flags the shipped Deployment runs the webhook with (its NODE_OPTIONS), so the servers
 * are measured as deployed unless `--server-flags` says otherwise. The floor gets the same flags.
 */
function deployedNodeOptions(): string {
  const deployment = readFileSync(join(ROOT, 'manifests/base/deployment.yaml'), 'utf8');
  const value = /- name: NODE_OPTIONS\s+value: (.+)/.exec(deployment)?.[1];
  if (value === undefined) throw new Error('manifests/base/deployment.yaml sets no NODE_OPTIONS');
  return value.trim();
}

function makeWork(): Work {
  const dir = mkdtempSync(join(tmpdir(), 'knpi-bench-'));
  const made = spawnSync(process.execPath, [BIN, 'certs', '--out', dir], { cwd: ROOT, encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`kafka-nodeport-injector certs failed: ${made.stderr}`);
  return {
    dir,
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    ca: readFileSync(join(dir, 'ca.crt')),
    auditFile: join(dir, 'audit.jsonl'),
  };
}

function log(name: string): WriteStream {
  return createWriteStream(join(RESULTS, `${name}.log`));
}

async function startWebhook(
  work: Work,
  opts: Options,
  extraNodeArgs: string[] = [],
  serveArgs: string[] = [],
): Promise<Started> {
  const auditFd = openSync(work.auditFile, 'a');
  const [command, args] = pinned(opts.pin ? SERVER_CPU : undefined, process.execPath, [
    ...opts.serverFlags,
    ...extraNodeArgs,
    BIN,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--tls-cert',
    work.certFile,
    '--tls-key',
    work.keyFile,
    ...serveArgs,
  ]);
  try {
    // stdout is the audit log (one line per decision), as in a cluster; here it goes to a file.
    return await startServer({
      name: 'webhook (serve)',
      command,
      args,
      env: serverEnv(),
      announceOn: 'stderr',
      announce: /serving (https:\/\/[^\s"/]+)\/mutate/,
      log: log(
        extraNodeArgs.length > 0 ? 'webhook-profiled' : serveArgs.length > 0 ? 'webhook-cluster' : 'webhook',
      ),
      stdoutFd: auditFd,
    });
  } finally {
    closeSync(auditFd);
  }
}

/**
 * The floor runs as plain JavaScript, as the webhook runs dist/: Node's type stripping would load
 * its TypeScript parser (WebAssembly) into the floor and add some 25 MiB to its RSS.
 */
function floorScript(work: Work): string {
  const file = join(work.dir, 'floorServer.mjs');
  if (existsSync(file)) return file;
  const stripped = spawnSync(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      '-e',
      "process.stdout.write(require('node:module').stripTypeScriptTypes(require('node:fs').readFileSync(0, 'utf8')))",
    ],
    { input: readFileSync(join(ROOT, 'bench', 'floorServer.ts')), encoding: 'utf8' },
  );
  if (stripped.status !== 0) throw new Error(`could not strip bench/floorServer.ts: ${stripped.stderr}`);
  writeFileSync(file, stripped.stdout);
  return file;
}

function startFloor(
  work: Work,
  opts: Options,
  extraNodeArgs: string[] = [],
  floorArgs: string[] = [],
): Promise<Started> {
  const [command, args] = pinned(opts.pin ? SERVER_CPU : undefined, process.execPath, [
    ...opts.serverFlags,
    ...extraNodeArgs,
    floorScript(work),
    '--cert',
    work.certFile,
    '--key',
    work.keyFile,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--min-version',
    TLS_CONTEXT_OPTIONS.minVersion,
    ...floorArgs,
  ]);
  return startServer({
    name: 'floor',
    command,
    args,
    announceOn: 'stdout',
    announce: /listening (https:\/\/\S+)/,
    log: log(extraNodeArgs.length > 0 ? 'floor-profiled' : 'floor'),
  });
}

interface AnswerCheck {
  uid?: unknown;
  allowed?: unknown;
  patch?: unknown;
  auditAnnotations?: { decision?: unknown };
}

/** Each request once, through a client that verifies the certificate: right uid, right decision. */
async function preflight(servers: Servers, scenarios: Scenario[], ca: Buffer): Promise<void> {
  const ready = await httpsRequest(servers.webhook.url, ca, 'GET', '/readyz');
  if (ready.statusCode !== 200)
    throw new Error(`webhook /readyz answered ${ready.statusCode}: ${ready.body}`);
  for (const server of SERVERS) {
    for (const [scenario, version] of scenarios.flatMap((sc) => [
      [sc, '1.1'] as const,
      [sc, '2.0'] as const,
    ])) {
      const send = version === '1.1' ? httpsRequest : http2Request;
      const answer = await send(servers[server].url, ca, 'POST', '/mutate', scenario.body);
      const what = `${server} ${scenario.key} HTTP/${version}`;
      if (answer.statusCode !== 200) throw new Error(`${what}: HTTP ${answer.statusCode}: ${answer.body}`);
      if (answer.httpVersion !== version)
        throw new Error(`${what}: HTTP/${answer.httpVersion}, expected ${version}`);
      const response = (JSON.parse(answer.body) as { response?: AnswerCheck }).response;
      if (response?.uid !== scenario.uid || response.allowed !== true) {
        throw new Error(
          `${what}: expected allowed with uid ${scenario.uid}, got ${answer.body.slice(0, 300)}`,
        );
      }
      if (server === 'webhook') {
        const decision = response.auditAnnotations?.decision;
        if (decision !== scenario.expectedDecision) {
          throw new Error(`${what}: decision ${String(decision)}, expected ${scenario.expectedDecision}`);
        }
        if ((scenario.expectedDecision === 'mutated') !== (typeof response.patch === 'string')) {
          throw new Error(`${what}: patch ${typeof response.patch} with decision ${String(decision)}`);
        }
      }
    }
  }
}

class LoadProcess {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (r: LoadResult) => void; reject: (e: Error) => void }
  >();

  constructor(pin: boolean) {
    const [command, args] = pinned(pin ? 0 : undefined, process.execPath, [
      join(ROOT, 'bench', 'loadGenerator.ts'),
    ]);
    this.child = track(spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    this.child.on('message', (message: LoadMessage) => {
      const id = message.type === 'result' ? message.result.id : message.id;
      const waiter = this.waiting.get(id);
      this.waiting.delete(id);
      if (message.type === 'result') waiter?.resolve(message.result);
      else waiter?.reject(new Error(`load generator: ${message.error}`));
    });
    this.child.on('exit', (code, signal) => {
      for (const waiter of this.waiting.values()) {
        waiter.reject(new Error(`load generator exited with ${signal ?? `code ${String(code)}`}`));
      }
      this.waiting.clear();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  run(job: Omit<LoadJob, 'id'>): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ ...job, id } satisfies LoadJob);
    });
  }

  stop(): void {
    if (this.child.connected) this.child.disconnect();
  }
}

/**
 * On a shared machine, waits (up to `maxSec`) for a second in which something else used less than
 * the disturbance threshold of the servers' CPU; our own servers are idle meanwhile.
 */
async function waitForQuiet(maxSec: number): Promise<void> {
  const until = performance.now() + maxSec * 1000;
  let announced = false;
  while (performance.now() < until) {
    const before = cpuTimes(SERVER_CPU);
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = cpuTimes(SERVER_CPU);
    if (!before || !after) return;
    const busy = (after.busyMs - before.busyMs) / (performance.now() - started);
    if (busy < DISTURBED_OTHER_CPU) return;
    if (!announced) say(`  waiting for the servers' CPU to be quiet (${Math.round(busy * 100)}% busy) ...`);
    announced = true;
  }
}

/** One server, one request kind, one duration: what the load saw and what the server spent. */
interface Measured {
  server: ServerName;
  scenario: string;
  round: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  errors: number;
  requests: number;
  /** Server CPU per answered request, microseconds. */
  cpuUsPerRequest: number;
  /** Server CPU time over wall time (1 = one core busy). */
  serverCpuUtil: number;
  loadCpuUtil: number;
  /**
   * Busy time of the server's CPU not spent by the server (other processes, interrupts, steal),
   * over wall time; NaN when not pinned. High values mean the run was disturbed.
   */
  otherCpuUtil: number;
  /** Write and read system calls of the server per answered request. */
  writesPerRequest: number;
  readsPerRequest: number;
  rssMiB: number;
}

interface MixEntry {
  key: string;
  title: string;
  bodies: string[];
  /** Connections for this entry; else `--connections` (HTTP/2: streams in flight on one session). */
  connections?: number;
  protocol?: 'http1' | 'http2';
}

async function measure(
  load: LoadProcess,
  target: Started,
  server: ServerName,
  entry: MixEntry,
  round: number,
  opts: Options,
  durationSec: number,
): Promise<Measured> {
  await new Promise((resolve) => setTimeout(resolve, opts.settleMs));
  const cpuBefore = cpuMsOf(target.pid);
  const serverCpuBefore = opts.pin ? cpuTimes(SERVER_CPU) : undefined;
  const syscallsBefore = syscallsOf(target.pid);
  const result = await load.run({
    url: target.url,
    bodies: entry.bodies,
    connections: entry.connections ?? opts.connections,
    durationSec,
    protocol: entry.protocol ?? 'http1',
  });
  const cpuMs = cpuMsOf(target.pid) - cpuBefore;
  const serverCpuAfter = opts.pin ? cpuTimes(SERVER_CPU) : undefined;
  const syscallsAfter = syscallsOf(target.pid);
  const otherMs =
    serverCpuBefore && serverCpuAfter ? serverCpuAfter.busyMs - serverCpuBefore.busyMs - cpuMs : Number.NaN;
  const died = target.exited();
  if (died !== undefined) throw new Error(`${target.name} ${died} during ${entry.key}`);
  return {
    server,
    scenario: entry.key,
    round,
    rps: result.rps,
    p50Ms: result.latencyMs.p50,
    p99Ms: result.latencyMs.p99,
    maxMs: result.latencyMs.max,
    meanMs: result.latencyMs.mean,
    errors: result.errors.total,
    requests: result.requests,
    cpuUsPerRequest: (cpuMs * 1000) / Math.max(1, result.requests),
    serverCpuUtil: cpuMs / (result.elapsedSec * 1000),
    loadCpuUtil: result.loadCpuMs / (result.elapsedSec * 1000),
    otherCpuUtil: Math.max(0, otherMs) / (result.elapsedSec * 1000),
    writesPerRequest: (syscallsAfter.writes - syscallsBefore.writes) / Math.max(1, result.requests),
    readsPerRequest: (syscallsAfter.reads - syscallsBefore.reads) / Math.max(1, result.requests),
    rssMiB: memoryOf(target.pid)?.rssMiB ?? Number.NaN,
  };
}

interface Aggregate {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  requests: number;
  cpuUsPerRequest: number;
  serverCpuUtil: number;
  loadCpuUtil: number;
  otherCpuUtil: number;
  writesPerRequest: number;
  readsPerRequest: number;
}

/** Medians over rounds; the worst max; errors and requests summed. */
function aggregate(runs: Measured[]): Aggregate {
  const m = (f: (r: Measured) => number): number => round(median(runs.map(f)), 3);
  return {
    rps: round(median(runs.map((r) => r.rps)), 0),
    p50Ms: m((r) => r.p50Ms),
    p99Ms: m((r) => r.p99Ms),
    maxMs: round(Math.max(...runs.map((r) => r.maxMs)), 3),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    requests: runs.reduce((n, r) => n + r.requests, 0),
    cpuUsPerRequest: m((r) => r.cpuUsPerRequest),
    serverCpuUtil: m((r) => r.serverCpuUtil),
    loadCpuUtil: m((r) => r.loadCpuUtil),
    otherCpuUtil: m((r) => r.otherCpuUtil),
    writesPerRequest: m((r) => r.writesPerRequest),
    readsPerRequest: m((r) => r.readsPerRequest),
  };
}

interface ScenarioResult {
  key: string;
  title: string;
  floor: Aggregate;
  webhook: Aggregate;
  ratios: {
    throughput: number;
    p99: number;
    throughputSpread: Spread;
    p99Spread: Spread;
    cpuPerRequest: number;
    /** Floor CPU per request over the webhook's, per round: throughput per core, robust to sharing. */
    throughputByCpu: number;
    throughputByCpuSpread: Spread;
  };
}

function scenarioResult(entry: MixEntry, runs: Measured[]): ScenarioResult {
  const of = (server: ServerName): Measured[] =>
    runs.filter((r) => r.scenario === entry.key && r.server === server);
  const floorRuns = of('floor');
  const webhookRuns = of('webhook');
  const perRound = (f: (w: Measured, fl: Measured) => number): number[] =>
    webhookRuns.map((w) => {
      const fl = floorRuns.find((x) => x.round === w.round);
      return fl ? f(w, fl) : Number.NaN;
    });
  const throughput = perRound((w, fl) => w.rps / fl.rps);
  const p99 = perRound((w, fl) => w.p99Ms / fl.p99Ms);
  const byCpu = perRound((w, fl) => fl.cpuUsPerRequest / w.cpuUsPerRequest);
  const roundSpread = (values: number[]): Spread => {
    const s = spread(values);
    return { min: round(s.min), median: round(s.median), max: round(s.max) };
  };
  const floor = aggregate(floorRuns);
  const webhook = aggregate(webhookRuns);
  return {
    key: entry.key,
    title: entry.title,
    floor,
    webhook,
    ratios: {
      throughput: round(median(throughput)),
      p99: round(median(p99)),
      throughputSpread: roundSpread(throughput),
      p99Spread: roundSpread(p99),
      cpuPerRequest: round(webhook.cpuUsPerRequest / floor.cpuUsPerRequest),
      throughputByCpu: round(median(byCpu)),
      throughputByCpuSpread: roundSpread(byCpu),
    },
  };
}

interface AuditCount {
  lines: number;
  decisions: Record<string, number>;
}

async function countAudit(file: string): Promise<AuditCount> {
  const decisions: Record<string, number> = {};
  let lines = 0;
  if (!existsSync(file)) return { lines, decisions };
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (line === '') continue;
    lines += 1;
    const decision = /"decision":"([a-z]+)"/.exec(line)?.[1] ?? 'unparsed';
    decisions[decision] = (decisions[decision] ?? 0) + 1;
  }
  return { lines, decisions };
}

interface HttpOutcome {
  scenarios: ScenarioResult[];
  runs: Measured[];
  peakRssMiB: Record<ServerName, number>;
  rssUnderLoadMiB: Record<ServerName, number>;
  audit: AuditCount;
  exitCodes: Record<ServerName, number | null>;
  webhookRequests: number;
  /** Pairs run again because a run was disturbed, and disturbed runs kept all the same. */
  discardedPairs: number;
  disturbedRuns: number;
  profile?: Record<ServerName, ProfileSummary>;
  startup: Startup;
}

interface Startup {
  /** From spawning `serve` to its first `/readyz` 200, per start (ms). */
  readyMs: { withoutCluster: Spread; withCluster: Spread };
  /** RSS a few seconds after ready, no request yet: without a cluster and with cluster access. */
  idleRssMiB: { withoutCluster: number; withCluster: number };
  /** The same processes' own (anonymous) resident memory: RSS less the shared node binary. */
  idleAnonMiB: { withoutCluster: number; withCluster: number };
  /** A bare TLS server (the floor) that has imported the same production dependencies, idle. */
  bareWithDepsIdleRssMiB: number;
  starts: number;
  /** What the webhook did in the cluster: node-address ConfigMap entries it wrote. */
  clusterEffect: { nodeAddressEntries: number };
}

const STARTS = 3;
const IDLE_SETTLE_MS = 3000;
const READY_TIMEOUT_MS = 30_000;

/** Polls /readyz until it answers 200; the time since `since`. */
async function readyAfter(server: Started, ca: Buffer, since: number): Promise<number> {
  for (;;) {
    if (performance.now() - since > READY_TIMEOUT_MS) {
      throw new Error(`${server.name} not ready within ${READY_TIMEOUT_MS / 1000} s`);
    }
    try {
      const answer = await httpsRequest(server.url, ca, 'GET', '/readyz');
      if (answer.statusCode === 200) return performance.now() - since;
    } catch {
      // not listening yet
    }
    if (server.exited() !== undefined)
      throw new Error(`${server.name} ${String(server.exited())} before ready`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * `serve` started STARTS times without a cluster and STARTS times with access to a real control
 * plane (test/e2e/cluster.ts: etcd, kube-apiserver, kwok nodes; what `npm run setup` builds): the
 * namespace watch, the node and opted-in namespace watches and the node-address map's write all
 * run, as in a cluster. Time to ready, idle RSS.
 */
async function measureStartup(work: Work, opts: Options): Promise<Startup> {
  const cluster = await startCluster({
    nodes: [
      { name: 'bench-a', internalIP: '203.0.113.21', externalIP: '198.51.100.21' },
      { name: 'bench-b', internalIP: '203.0.113.22' },
    ],
    provisionVolumes: false,
    log: () => undefined,
  });
  const ready = { withoutCluster: [] as number[], withCluster: [] as number[] };
  const idle = { withoutCluster: [] as number[], withCluster: [] as number[] };
  const anon = { withoutCluster: [] as number[], withCluster: [] as number[] };
  const bareIdle: number[] = [];
  let nodeAddressEntries: number | undefined;
  try {
    await cluster.kubectlOk(['create', 'namespace', 'kafka']);
    await cluster.kubectlOk(['label', 'namespace', 'kafka', `${INJECT_LABEL}=enabled`]);
    for (const kind of ['withoutCluster', 'withCluster'] as const) {
      for (let i = 0; i < STARTS; i += 1) {
        const since = performance.now();
        const server = await startWebhook(
          work,
          opts,
          [],
          kind === 'withCluster' ? ['--kubeconfig', cluster.kubeconfigPath] : [],
        );
        try {
          ready[kind].push(await readyAfter(server, work.ca, since));
          await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
          const memory = memoryOf(server.pid);
          idle[kind].push(memory?.rssMiB ?? Number.NaN);
          anon[kind].push(memory?.anonMiB ?? Number.NaN);
        } finally {
          await stopServer(server);
        }
      }
    }
    // The baseline: a bare TLS server (the floor) that has loaded the same dependencies.
    for (let i = 0; i < STARTS; i += 1) {
      const bare = await startFloor(work, opts, [], ['--load-deps', ROOT]);
      try {
        await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
        bareIdle.push(memoryOf(bare.pid)?.rssMiB ?? Number.NaN);
      } finally {
        await stopServer(bare);
      }
    }
    const map = await cluster.api('GET', `/api/v1/namespaces/kafka/configmaps/${NODE_ADDRESS_MAP}`);
    nodeAddressEntries = Object.keys((map.json as { data?: object } | undefined)?.data ?? {}).length;
  } finally {
    await cluster.stop();
  }
  const ms = (values: number[]): Spread => {
    const sp = spread(values);
    return { min: round(sp.min, 1), median: round(sp.median, 1), max: round(sp.max, 1) };
  };
  const mib = (values: { withoutCluster: number[]; withCluster: number[] }) => ({
    withoutCluster: round(median(values.withoutCluster), 1),
    withCluster: round(median(values.withCluster), 1),
  });
  // The webhook really worked against the cluster: it watched the nodes and wrote their map.
  if (nodeAddressEntries !== 2) {
    throw new Error(`serve with a cluster wrote ${String(nodeAddressEntries)} node-address entries, not 2`);
  }
  return {
    readyMs: { withoutCluster: ms(ready.withoutCluster), withCluster: ms(ready.withCluster) },
    idleRssMiB: mib(idle),
    idleAnonMiB: mib(anon),
    bareWithDepsIdleRssMiB: round(median(bareIdle), 1),
    starts: STARTS,
    clusterEffect: { nodeAddressEntries },
  };
}

function entries(scenarios: Scenario[]): MixEntry[] {
  return [
    ...scenarios.map((s) => ({ key: s.key, title: s.title, bodies: [s.body] })),
    {
      key: 'mix',
      title: 'all four, each connection cycling through them in turn',
      bodies: scenarios.map((s) => s.body),
    },
    {
      // One request in flight at a time: the latency a request pays without queueing behind
      // others. (autocannon's rate limit sends each second's quota back to back, so a "fixed
      // rate" run would still queue; one connection does not.)
      key: 'mixSerial',
      title: 'the mix over one connection: latency without queueing',
      bodies: scenarios.map((s) => s.body),
      connections: 1,
    },
    {
      // What the API server does: one HTTP/2 connection, several admissions multiplexed on it.
      key: 'mixH2',
      title: 'the mix over HTTP/2: one TLS session, --connections streams in flight',
      bodies: scenarios.map((s) => s.body),
      protocol: 'http2',
    },
  ];
}

async function runHttp(opts: Options, scenarios: Scenario[]): Promise<HttpOutcome> {
  const work = makeWork();
  endChildrenOnSignal(() => {
    rmSync(work.dir, { recursive: true, force: true });
  });
  const mix = entries(scenarios);
  let servers: Partial<Servers> = {};
  let load: LoadProcess | undefined;
  try {
    servers.floor = await startFloor(work, opts);
    servers.webhook = await startWebhook(work, opts);
    const s = servers as Servers;
    say(`floor   ${s.floor.url} (pid ${s.floor.pid})`);
    say(`webhook ${s.webhook.url} (pid ${s.webhook.pid})`);
    await preflight(s, scenarios, work.ca);
    say(
      'preflight: every request answered by both over HTTP/1.1 and HTTP/2, uid echoed, webhook decisions as expected',
    );

    load = new LoadProcess(opts.pin);
    const sampler = new RssSampler([s.floor.pid, s.webhook.pid]);
    sampler.start();
    let webhookRequests = 2 * scenarios.length; // preflight: HTTP/1.1 and HTTP/2
    say(`warm-up: ${opts.warmupSec} s per server and request kind`);
    for (const entry of mix) {
      for (const server of SERVERS) {
        const warm = await measure(load, s[server], server, entry, 0, opts, opts.warmupSec);
        if (server === 'webhook') webhookRequests += warm.requests;
        if (warm.errors > 0) throw new Error(`${server} ${entry.key}: ${warm.errors} errors in warm-up`);
      }
    }
    const runs: Measured[] = [];
    let discarded = 0;
    for (let r = 1; r <= opts.rounds; r += 1) {
      for (const entry of mix) {
        for (let attempt = 0; ; attempt += 1) {
          if (opts.pin && opts.quietWaitSec > 0) await waitForQuiet(opts.quietWaitSec);
          const pair: Measured[] = [];
          for (const server of SERVERS) {
            const m = await measure(load, s[server], server, entry, r, opts, opts.durationSec);
            pair.push(m);
            if (server === 'webhook') webhookRequests += m.requests;
            say(
              `round ${r}/${opts.rounds} ${entry.key.padEnd(9)} ${server.padEnd(7)} ` +
                `${Math.round(m.rps).toString().padStart(6)} req/s  p50 ${m.p50Ms.toFixed(3)} ms  ` +
                `p99 ${m.p99Ms.toFixed(3)} ms  errors ${m.errors}  cpu ${m.cpuUsPerRequest.toFixed(0)} us/req` +
                `  other ${Number.isNaN(m.otherCpuUtil) ? '-' : m.otherCpuUtil.toFixed(2)}`,
            );
          }
          const disturbed = pair.some((m) => m.otherCpuUtil > DISTURBED_OTHER_CPU);
          if (disturbed && attempt < opts.retries) {
            discarded += 1;
            say(`  disturbed (something else used the servers' CPU): this pair again`);
            continue;
          }
          runs.push(...pair);
          break;
        }
      }
    }
    sampler.sample();
    sampler.stop();
    const peakRssMiB = {
      floor: round(memoryOf(s.floor.pid)?.peakRssMiB ?? Number.NaN, 1),
      webhook: round(memoryOf(s.webhook.pid)?.peakRssMiB ?? Number.NaN, 1),
    };
    const rssUnderLoadMiB = {
      floor: round(sampler.maxRssMiB(s.floor.pid), 1),
      webhook: round(sampler.maxRssMiB(s.webhook.pid), 1),
    };
    load.stop();
    load = undefined;
    const exitCodes = {
      floor: await stopServer(s.floor),
      webhook: await stopServer(s.webhook),
    };
    servers = {};
    const audit = await countAudit(work.auditFile);
    const startup = await measureStartup(work, opts);

    let profile: Record<ServerName, ProfileSummary> | undefined;
    if (opts.profile) profile = await profileServers(work, opts, mix);

    return {
      scenarios: mix.map((e) => scenarioResult(e, runs)),
      runs,
      peakRssMiB,
      rssUnderLoadMiB,
      audit,
      exitCodes,
      webhookRequests,
      discardedPairs: discarded,
      disturbedRuns: runs.filter((m) => m.otherCpuUtil > DISTURBED_OTHER_CPU).length,
      startup,
      ...(profile ? { profile } : {}),
    };
  } finally {
    load?.stop();
    await Promise.all(Object.values(servers).map((server) => stopServer(server)));
    rmSync(work.dir, { recursive: true, force: true });
  }
}

/**
 * Each server again, alone, under --cpu-prof, driven with the mix (these figures are not compared).
 * Only the measured window is summarised: start-up and warm-up are left out.
 */
async function profileServers(
  work: Work,
  opts: Options,
  mix: MixEntry[],
): Promise<Record<ServerName, ProfileSummary>> {
  const all = mix.find((e) => e.key === 'mix');
  if (!all) throw new Error('no mix');
  const summaries: Partial<Record<ServerName, ProfileSummary>> = {};
  for (const server of SERVERS) {
    const dir = join(RESULTS, 'profile', server);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const flags = ['--cpu-prof', '--cpu-prof-dir', dir];
    const target =
      server === 'webhook' ? await startWebhook(work, opts, flags) : await startFloor(work, opts, flags);
    const load = new LoadProcess(opts.pin);
    let windowMs: number;
    let requests: number;
    try {
      await measure(load, target, server, all, 0, opts, opts.warmupSec);
      say(`profiling ${server} under the mix for ${opts.durationSec * 2} s`);
      const from = performance.now() + opts.settleMs;
      const measured = await measure(load, target, server, all, 0, opts, opts.durationSec * 2);
      requests = measured.requests;
      load.stop();
      await stopServer(target);
      windowMs = performance.now() - from;
    } finally {
      load.stop();
      await stopServer(target);
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`no .cpuprofile written in ${dir}`);
    const summary = summariseProfile(join(dir, file), ROOT, { top: 30, windowMs, requests });
    writeFileSync(join(RESULTS, `${server}-profile.txt`), `${profileTables(summary)}\n`);
    summaries[server] = summary;
  }
  return summaries as Record<ServerName, ProfileSummary>;
}

interface Target {
  name: string;
  target: string;
  value: string;
  holds: boolean;
}

function targets(http: HttpOutcome | undefined, core: CoreResult | undefined, errors: number): Target[] {
  const list: Target[] = [];
  const mix = http?.scenarios.find((s) => s.key === 'mix');
  if (http && mix) {
    list.push({
      name: 'throughput (mix)',
      target: `webhook >= ${TARGETS.throughputRatioMin} x floor`,
      value: `${mix.ratios.throughput} x (rounds ${mix.ratios.throughputSpread.min}-${mix.ratios.throughputSpread.max})`,
      holds: mix.ratios.throughput >= TARGETS.throughputRatioMin,
    });
    list.push({
      name: 'throughput per core (mix, by CPU/req)',
      target: `webhook >= ${TARGETS.throughputRatioMin} x floor`,
      value: `${mix.ratios.throughputByCpu} x (rounds ${mix.ratios.throughputByCpuSpread.min}-${mix.ratios.throughputByCpuSpread.max})`,
      holds: mix.ratios.throughputByCpu >= TARGETS.throughputRatioMin,
    });
    const p99Limit = TARGETS.p99FactorMax * mix.floor.p99Ms + TARGETS.p99SlackMs;
    list.push({
      name: 'p99 latency (mix)',
      target: `webhook <= ${TARGETS.p99FactorMax} x floor p99 + ${TARGETS.p99SlackMs} ms = ${round(p99Limit)} ms`,
      value: `${mix.webhook.p99Ms} ms (${mix.ratios.p99} x floor)`,
      holds: mix.webhook.p99Ms <= p99Limit,
    });
    const serial = http.scenarios.find((sc) => sc.key === 'mixSerial');
    if (serial) {
      const limit = TARGETS.p99FactorMax * serial.floor.p99Ms + TARGETS.p99SlackMs;
      list.push({
        name: 'p99 latency (mix, one connection)',
        target: `webhook <= ${TARGETS.p99FactorMax} x floor p99 + ${TARGETS.p99SlackMs} ms = ${round(limit)} ms`,
        value: `${serial.webhook.p99Ms} ms (${serial.ratios.p99} x floor)`,
        holds: serial.webhook.p99Ms <= limit,
      });
    }
    const h2 = http.scenarios.find((sc) => sc.key === 'mixH2');
    if (h2) {
      list.push({
        name: 'throughput (mix, HTTP/2)',
        target: `webhook >= ${TARGETS.throughputRatioMin} x floor`,
        value: `${h2.ratios.throughput} x (rounds ${h2.ratios.throughputSpread.min}-${h2.ratios.throughputSpread.max})`,
        holds: h2.ratios.throughput >= TARGETS.throughputRatioMin,
      });
    }
    const peakLimit = TARGETS.peakRssOverFloorMax * http.peakRssMiB.floor;
    list.push({
      name: 'peak RSS under load',
      target: `<= ${TARGETS.peakRssOverFloorMax} x floor's peak = ${round(peakLimit, 1)} MiB`,
      value: `${http.peakRssMiB.webhook} MiB (${round(http.peakRssMiB.webhook / http.peakRssMiB.floor)} x; floor ${http.peakRssMiB.floor} MiB)`,
      holds: http.peakRssMiB.webhook <= peakLimit,
    });
    const bare = http.startup.bareWithDepsIdleRssMiB;
    const idleLimit = TARGETS.idleRssOverBareMax * bare;
    list.push({
      name: 'idle RSS with cluster access',
      target: `<= ${TARGETS.idleRssOverBareMax} x a bare TLS server with the same dependencies = ${round(idleLimit, 1)} MiB`,
      value: `${http.startup.idleRssMiB.withCluster} MiB (${round(http.startup.idleRssMiB.withCluster / bare)} x; bare ${bare} MiB; without a cluster ${http.startup.idleRssMiB.withoutCluster} MiB)`,
      holds: http.startup.idleRssMiB.withCluster <= idleLimit,
    });
  }
  list.push({ name: 'errors', target: '0', value: String(errors), holds: errors === 0 });
  if (core) {
    list.push({
      name: 'core mutation / JSON.parse (seed)',
      target: `<= ${TARGETS.mutationOverParseMax}`,
      value: `${core.mutationOverParse} (largest over sizes ${core.maxMutationOverParse})`,
      holds: core.mutationOverParse <= TARGETS.mutationOverParseMax,
    });
    list.push({
      name: 'core growth exponent',
      target: `<= ${TARGETS.growthExponentMax}`,
      value: `${core.growthExponent} (JSON.parse ${core.parseGrowthExponent})`,
      holds: core.growthExponent <= TARGETS.growthExponentMax,
    });
  }
  return list;
}

function machine(opts: Options): Record<string, unknown> {
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    availableParallelism: availableParallelism(),
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    kernel: release(),
    node: process.version,
    autocannon: (
      JSON.parse(readFileSync(join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version,
    pinning: opts.pin
      ? 'servers on CPU 1, load generator on CPU 0 (taskset)'
      : 'none (taskset missing or --no-pin)',
  };
}

function printHttp(http: HttpOutcome, opts: Options): void {
  say('');
  say(
    `HTTP: HTTP/1.1 keep-alive over TLS, ${opts.connections} connections, ${opts.rounds} rounds x ${opts.durationSec} s per server and request kind; medians over rounds`,
  );
  say('mixSerial: the mix over 1 connection (one request in flight: latency without queueing)');
  say(
    `mixH2: the mix over HTTP/2, one TLS session with ${opts.connections} streams in flight (closed loop on node:http2)`,
  );
  const rows: (string | number)[][] = [];
  for (const s of http.scenarios) {
    for (const server of SERVERS) {
      const a = s[server];
      rows.push([
        server === 'floor' ? s.key : '',
        server,
        a.rps,
        a.p50Ms,
        a.p99Ms,
        a.maxMs,
        a.errors,
        a.cpuUsPerRequest,
        round(a.serverCpuUtil, 2),
        round(a.loadCpuUtil, 2),
        round(a.otherCpuUtil, 2),
        `${round(a.readsPerRequest, 2)}/${round(a.writesPerRequest, 2)}`,
        server === 'webhook'
          ? `${s.ratios.throughput} (${s.ratios.throughputSpread.min}-${s.ratios.throughputSpread.max})`
          : '',
        server === 'webhook'
          ? `${s.ratios.throughputByCpu} (${s.ratios.throughputByCpuSpread.min}-${s.ratios.throughputByCpuSpread.max})`
          : '',
        server === 'webhook' ? `${s.ratios.p99} (${s.ratios.p99Spread.min}-${s.ratios.p99Spread.max})` : '',
      ]);
    }
  }
  say(
    table(
      [
        'request',
        'server',
        'req/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'errors',
        'cpu us/req',
        'srv cpu',
        'load cpu',
        'other cpu',
        'syscalls r/w per req',
        'rps ratio (spread)',
        'cpu ratio (spread)',
        'p99 ratio (spread)',
      ],
      rows,
    ),
  );
  say(
    `peak RSS (VmHWM): floor ${http.peakRssMiB.floor} MiB, webhook ${http.peakRssMiB.webhook} MiB; ` +
      `largest RSS sampled under load: floor ${http.rssUnderLoadMiB.floor} MiB, webhook ${http.rssUnderLoadMiB.webhook} MiB`,
  );
  if (http.discardedPairs > 0 || http.disturbedRuns > 0) {
    say(
      `disturbed: ${http.discardedPairs} pairs run again, ${http.disturbedRuns} of ${http.runs.length} kept runs ` +
        `with more than ${DISTURBED_OTHER_CPU * 100}% of the servers' CPU used by something else: ratios are less certain`,
    );
  }
  say(
    `audit log: ${http.audit.lines} lines for ${http.webhookRequests} answers; decisions ${JSON.stringify(http.audit.decisions)}`,
  );
  const st = http.startup;
  say(
    `start-up (spawn to /readyz 200, ${st.starts} starts each): without a cluster ${st.readyMs.withoutCluster.median} ms ` +
      `(${st.readyMs.withoutCluster.min}-${st.readyMs.withoutCluster.max}), with a cluster ${st.readyMs.withCluster.median} ms ` +
      `(${st.readyMs.withCluster.min}-${st.readyMs.withCluster.max}); idle RSS ${st.idleRssMiB.withoutCluster} / ${st.idleRssMiB.withCluster} MiB ` +
      `(of it the process's own, RssAnon: ${st.idleAnonMiB.withoutCluster} / ${st.idleAnonMiB.withCluster} MiB)`,
  );
  if (http.profile) {
    for (const server of SERVERS) {
      say('');
      say(`${server} profile (bench/results/${server}-profile.txt):`);
      say(profileTables(http.profile[server]));
    }
  }
}

function printCore(core: CoreResult): void {
  say('');
  say(
    `core: median time per call (tinybench, ${core.timePerTaskMs} ms per task), mutateObject vs JSON.parse of the same object`,
  );
  say(
    table(
      [
        'object',
        'containers',
        'env',
        'JSON bytes',
        'decision',
        'JSON.parse us',
        'mutateObject us',
        'mutate/parse',
      ],
      core.sizes.map((s) => [
        s.key,
        s.containers,
        s.envEntries,
        s.jsonBytes,
        s.decision,
        s.parseUs,
        s.mutateUs,
        s.mutationOverParse,
      ]),
    ),
  );
  say(
    `growth exponent (log-log slope of mutateObject time vs JSON size): containers ${core.growthExponentBySeries.containers}, ` +
      `env ${core.growthExponentBySeries.env}; between the two largest: containers ${core.topSegmentExponent.containers}, ` +
      `env ${core.topSegmentExponent.env}; JSON.parse ${core.parseGrowthExponent}`,
  );
}

async function main(): Promise<number> {
  const opts = options();
  mkdirSync(RESULTS, { recursive: true });
  // This process samples /proc and prints between jobs: keep it off the servers' CPU too.
  if (opts.pin) spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  if (!existsSync(RENDERED_DIR)) {
    throw new Error(
      `chart renders not found at ${RENDERED_DIR}: the bench reads ../shared/charts-rendered beside this repository (SHARED_DIR=/path overrides it)`,
    );
  }
  const scenarios = admissionScenarios();
  const started = performance.now();
  let http: HttpOutcome | undefined;
  const problems: string[] = [];
  if (opts.http) {
    ensureBuilt();
    say(
      `bench: ${opts.rounds} rounds x ${opts.durationSec} s, ${opts.connections} connections, ${opts.pin ? 'pinned' : 'not pinned'}`,
    );
    http = await runHttp(opts, scenarios);
    printHttp(http, opts);
    const httpErrors = http.runs.reduce((n, r) => n + r.errors, 0);
    if (httpErrors > 0) problems.push(`${httpErrors} HTTP errors (socket errors, timeouts or non-2xx)`);
    const auditErrors = (http.audit.decisions.error ?? 0) + (http.audit.decisions.unparsed ?? 0);
    if (auditErrors > 0) problems.push(`${auditErrors} audit lines with decision error`);
    if (http.audit.lines < http.webhookRequests) {
      problems.push(`${http.webhookRequests} answers but only ${http.audit.lines} audit lines`);
    }
    for (const server of SERVERS) {
      if (http.exitCodes[server] !== 0)
        problems.push(`${server} exited with ${String(http.exitCodes[server])} on SIGTERM`);
    }
  }
  let core: CoreResult | undefined;
  if (opts.core) {
    say('');
    say('core micro-benchmark ...');
    core = await runCoreBench({ quick: opts.quick });
    printCore(core);
  }
  let scale: ScaleResult | undefined;
  if (opts.scale) {
    say('');
    say(`scale benchmark (${opts.quick ? 'a tenth of ' : ''}12,000 Services, 2,000 Secrets) ...`);
    scale = await runScaleBench({ quick: opts.quick });
    printScale(scale);
  }
  const errors = problems.length;
  const checks = [
    ...targets(http, core, http ? http.runs.reduce((n, r) => n + r.errors, 0) + errors : errors),
    ...(scale?.targets ?? []),
  ];
  say('');
  say(
    table(
      ['target', 'wanted', 'measured', 'holds'],
      checks.map((t) => [t.name, t.target, t.value, t.holds ? 'yes' : 'NO']),
    ),
  );

  const mix = http?.scenarios.find((s) => s.key === 'mix');
  const serverFigures = (server: ServerName): Record<string, number> | undefined =>
    http && mix
      ? {
          rps: mix[server].rps,
          p50Ms: mix[server].p50Ms,
          p99Ms: mix[server].p99Ms,
          maxMs: mix[server].maxMs,
          errors: http.runs.filter((r) => r.server === server).reduce((n, r) => n + r.errors, 0),
          peakRssMiB: http.peakRssMiB[server],
          rssUnderLoadMiB: http.rssUnderLoadMiB[server],
          cpuUsPerRequest: mix[server].cpuUsPerRequest,
        }
      : undefined;
  const results = {
    generatedAt: new Date().toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    method: {
      protocol:
        'HTTP/1.1 keep-alive over TLS (autocannon) for every request kind; the mix also over HTTP/2 (mixH2, `http2`)',
      connections: opts.connections,
      rounds: opts.rounds,
      durationSec: opts.durationSec,
      warmupSec: opts.warmupSec,
      order: 'per round and request kind: floor then webhook (A B A B ...)',
      headline: 'floor/webhook/ratios are the mix (all four requests); medians over rounds',
      serverNodeFlags: opts.serverFlags,
    },
    machine: machine(opts),
    scale,
    floor: serverFigures('floor'),
    webhook: serverFigures('webhook'),
    ratios: mix
      ? {
          throughput: mix.ratios.throughput,
          throughputSpread: mix.ratios.throughputSpread,
          p99: mix.ratios.p99,
          p99Spread: mix.ratios.p99Spread,
          cpuPerRequest: mix.ratios.cpuPerRequest,
          throughputByCpu: mix.ratios.throughputByCpu,
          throughputByCpuSpread: mix.ratios.throughputByCpuSpread,
          p99OneConnection: http?.scenarios.find((sc) => sc.key === 'mixSerial')?.ratios.p99,
        }
      : undefined,
    http2: (() => {
      const h2 = http?.scenarios.find((sc) => sc.key === 'mixH2');
      return h2
        ? {
            method:
              'the mix over HTTP/2 (ALPN h2, TLS 1.3): one session, --connections streams in flight, closed loop (bench/loadGenerator.ts on node:http2)',
            floor: h2.floor,
            webhook: h2.webhook,
            ratios: h2.ratios,
            http1Mix: mix
              ? { floorRps: mix.floor.rps, webhookRps: mix.webhook.rps, ratio: mix.ratios.throughput }
              : undefined,
          }
        : undefined;
    })(),
    startup: http?.startup,
    scenarios: http?.scenarios,
    rounds: http?.runs,
    audit: http ? { ...http.audit, answers: http.webhookRequests } : undefined,
    disturbance: http
      ? {
          threshold: DISTURBED_OTHER_CPU,
          discardedPairs: http.discardedPairs,
          disturbedRuns: http.disturbedRuns,
          runs: http.runs.length,
        }
      : undefined,
    core,
    profile: http?.profile,
    targets: checks,
    problems,
    elapsedSec: round((performance.now() - started) / 1000, 1),
  };
  const text = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(join(RESULTS, 'latest.json'), text);
  // A smoke run must not overwrite the figures of the last full one.
  writeFileSync(join(RESULTS, `${results.mode}.json`), text);
  say('');
  say(`results: ${join('bench', 'results', 'latest.json')} (${results.elapsedSec} s)`);
  for (const problem of problems) say(`FAILED: ${problem}`);
  return problems.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
