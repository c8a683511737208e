// The test's own little network: a Linux bridge in the root namespace and one network namespace per
// "node" (veth pair, address in a private /24 the lab picks itself, bridge = .1), plus a namespace for
// ZooKeeper. Namespaces get no default route, so nothing started inside can reach any address but the
// lab's own. Per-namespace /etc/hosts come from /etc/netns/<ns>/hosts, which `ip netns exec`
// bind-mounts over /etc/hosts for the processes it starts. NodePorts are realised like kube-proxy
// does (iptables DNAT in the node's nat table). Everything created is recorded and removed by
// cleanup(), which is synchronous so that it can run from exit and signal handlers.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';

export interface LabHost {
  name: string; // short name, e.g. node1
  ns: string; // network namespace
  ip: string;
  /** A second address of the node, given to it as its ExternalIP (address-type tests). */
  externalIP?: string;
  labels: Record<string, string>;
}

export interface LabProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  exitCode: number | null | undefined; // undefined while running
}

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input });
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const PREFIX = 'kni';

export class Lab {
  readonly id: string;
  readonly bridge: string;
  readonly subnet: string; // e.g. 10.213.0
  readonly hosts: LabHost[] = [];
  private readonly processes: LabProcess[] = [];
  private cleaned = false;
  private readonly log: (msg: string) => void;

  constructor(log: (msg: string) => void) {
    this.log = log;
    this.id = `${process.pid}`;
    this.bridge = `${PREFIX}${this.id}br`.slice(0, 15);
    Lab.reapStale(log);
    this.subnet = Lab.freeSubnet();
  }

  /** Remove namespaces / bridges / hosts files left by a lab whose process died (e.g. SIGKILL). */
  static reapStale(log: (msg: string) => void): void {
    const nsList = run('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(`${PREFIX}-`));
    for (const ns of nsList) {
      const pid = Number(ns.split('-')[1]);
      if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) {
        log(`reaping stale namespace ${ns}`);
        Lab.killNamespacePids(ns);
        tryRun('ip', ['netns', 'del', ns]);
        rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
      }
    }
    const links = run('ip', ['-o', 'link', 'show', 'type', 'bridge']);
    for (const m of links.matchAll(new RegExp(`^\\d+: (${PREFIX}(\\d+)br)`, 'gm'))) {
      const pid = Number(m[2]);
      if (pid !== process.pid && !pidAlive(pid)) {
        log(`reaping stale bridge ${m[1] ?? ''}`);
        tryRun('ip', ['link', 'del', m[1] ?? '']);
      }
    }
  }

  private static freeSubnet(): string {
    const routes = run('ip', ['-4', 'route', 'show']);
    for (let third = 0; third < 64; third++) {
      const subnet = `10.213.${third}`;
      if (!routes.includes(`${subnet}.`)) return subnet;
    }
    throw new Error('no free 10.213.x.0/24 subnet for the lab');
  }

  private static killNamespacePids(ns: string): void {
    let out: string;
    try {
      out = run('ip', ['netns', 'pids', ns]);
    } catch {
      return;
    }
    const pids = out
      .split('\n')
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  nsName(host: string): string {
    return `${PREFIX}-${this.id}-${host}`;
  }

  createBridge(): void {
    run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge]);
    run('ip', ['link', 'set', this.bridge, 'up']);
  }

  addHost(name: string, lastOctet: number, labels: Record<string, string> = {}): LabHost {
    const ns = this.nsName(name);
    const ip = `${this.subnet}.${lastOctet}`;
    const veth = `${PREFIX}${this.id}${name}`.slice(0, 15);
    const host: LabHost = { name, ns, ip, labels: { 'kubernetes.io/hostname': name, ...labels } };
    this.hosts.push(host); // recorded first: cleanup removes whatever part was made
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns}/hosts`, `127.0.0.1 localhost\n`);
    run('ip', ['netns', 'add', ns]);
    run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    run('ip', ['link', 'set', veth, 'master', this.bridge, 'up']);
    this.exec(host, ['ip', 'link', 'set', 'lo', 'up']);
    this.exec(host, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    this.exec(host, ['ip', 'link', 'set', 'eth0', 'up']);
    return host;
  }

  exec(host: LabHost, argv: string[], input?: string): string {
    const [cmd, ...rest] = argv;
    if (cmd === undefined) throw new Error('empty argv');
    return run('ip', ['netns', 'exec', host.ns, cmd, ...rest], input);
  }

  /** /etc/hosts as seen inside the host's namespace (kubelet-managed pod hosts + cluster DNS). */
  writeHosts(host: LabHost, entries: [ip: string, names: string[]][]): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    for (const [ip, names] of entries) lines.push(`${ip} ${names.join(' ')}`);
    writeFileSync(`/etc/netns/${host.ns}/hosts`, lines.join('\n') + '\n');
  }

  /** kube-proxy for a NodePort Service with externalTrafficPolicy Local: traffic arriving at
   * <node IP>:<nodePort> is DNATed to the pod on this node (PREROUTING for packets from the bridge,
   * OUTPUT for connections made on the node itself). */
  addNodePort(host: LabHost, nodePort: number, podIP: string, targetPort: number): void {
    // kube-proxy opens a node port on every address of the node (--nodeport-addresses unset).
    for (const [chain, address] of ['PREROUTING', 'OUTPUT'].flatMap((c) =>
      [host.ip, ...(host.externalIP ? [host.externalIP] : [])].map((a) => [c, a] as const),
    )) {
      this.exec(host, [
        'iptables',
        '-t',
        'nat',
        '-A',
        chain,
        '-d',
        `${address}/32`,
        '-p',
        'tcp',
        '--dport',
        String(nodePort),
        '-m',
        'comment',
        '--comment',
        `kni nodePort ${nodePort} -> ${podIP}:${targetPort}`,
        '-j',
        'DNAT',
        '--to-destination',
        `${podIP}:${targetPort}`,
      ]);
    }
  }

  natRules(host: LabHost): string {
    return this.exec(host, ['iptables', '-t', 'nat', '-S']);
  }

  /** Gives the host a second address on its interface: the ExternalIP its Node object carries. */
  addExternalAddress(host: LabHost, lastOctet: number): void {
    host.externalIP = `${this.subnet}.${lastOctet}`;
    this.exec(host, ['ip', 'addr', 'add', `${host.externalIP}/24`, 'dev', 'eth0']);
  }

  /** Start a process inside the host's namespace, in its own UTS namespace with the given hostname
   * (as a pod has its own hostname), stdout+stderr to logFile. */
  start(
    name: string,
    host: LabHost,
    hostname: string,
    argv: string[],
    logFile: string,
    env: NodeJS.ProcessEnv = {},
  ): LabProcess {
    const out = openSync(logFile, 'a');
    const script = 'hostname "$0" && exec "$@"';
    const child = spawn(
      'ip',
      ['netns', 'exec', host.ns, 'unshare', '--uts', 'sh', '-c', script, hostname, ...argv],
      {
        stdio: ['ignore', out, out],
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      },
    );
    closeSync(out);
    const proc: LabProcess = {
      name,
      child,
      logFile,
      exitCode: undefined,
      exited: new Promise((resolve) => {
        child.on('exit', (code, signal) => {
          proc.exitCode = code ?? (signal ? 128 : null);
          resolve(proc.exitCode);
        });
        child.on('error', () => {
          proc.exitCode = 127;
          resolve(127);
        });
      }),
    };
    this.processes.push(proc);
    return proc;
  }

  async stop(proc: LabProcess, graceMs = 5000): Promise<void> {
    if (proc.exitCode !== undefined) return;
    proc.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      proc.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => {
          resolve(false);
        }, graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!done) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.processes.map((p) => this.stop(p)));
  }

  /** Synchronous, idempotent: kill every process, delete namespaces (with their iptables rules and
   * veth ends), the bridge and the /etc/netns files. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const p of this.processes) {
      if (p.exitCode === undefined && p.child.pid !== undefined) {
        try {
          process.kill(p.child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    for (const h of this.hosts) {
      Lab.killNamespacePids(h.ns);
      tryRun('ip', ['netns', 'del', h.ns]);
      rmSync(`/etc/netns/${h.ns}`, { recursive: true, force: true });
    }
    tryRun('ip', ['link', 'del', this.bridge]);
    this.log(`lab ${this.id} cleaned up (${this.hosts.length} namespaces, bridge ${this.bridge})`);
  }

  /** What is left of this lab (should be nothing after cleanup). */
  leftovers(): string[] {
    const left: string[] = [];
    const nsList = run('ip', ['netns', 'list']);
    for (const h of this.hosts) {
      if (nsList.includes(h.ns)) left.push(`netns ${h.ns}`);
      if (existsSync(`/etc/netns/${h.ns}`)) left.push(`/etc/netns/${h.ns}`);
    }
    if (tryRun('ip', ['link', 'show', this.bridge])) left.push(`bridge ${this.bridge}`);
    for (const p of this.processes)
      if (p.exitCode === undefined && p.child.pid && pidAlive(p.child.pid)) left.push(`pid ${p.child.pid}`);
    return left;
  }
}

export function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Wait until the log matches `ready` (resolve 'ready'), the process exits (resolve 'exited'), or
 * the timeout passes (resolve 'timeout'). */
export async function waitForLog(
  proc: LabProcess,
  ready: RegExp,
  timeoutMs: number,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (ready.test(readLog(proc.logFile))) return 'ready';
    if (proc.exitCode !== undefined) return 'exited';
    await sleep(250);
  }
  return 'timeout';
}

export function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.on('connect', () => {
      clearTimeout(t);
      s.end();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** ZooKeeper four-letter word over TCP. */
export function fourLetter(host: string, port: number, word: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect({ host, port }, () => s.write(word));
    const t = setTimeout(() => {
      s.destroy();
      resolve(data);
    }, timeoutMs);
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('close', () => {
      clearTimeout(t);
      resolve(data);
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(data);
    });
  });
}
