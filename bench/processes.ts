/**
 * Child processes of the bench: start one and wait for the line that says it listens, pin it to a
 * CPU, read its memory and CPU time from /proc, and stop it.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync, type WriteStream } from 'node:fs';
import { connect } from 'node:http2';
import { request } from 'node:https';

export interface Started {
  name: string;
  child: ChildProcess;
  pid: number;
  url: string;
  /** Why it exited, once it has; checked after every load job. */
  exited: () => string | undefined;
}

/** Every child still running, so an interrupted bench can end them (and only them). */
const running = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** On SIGINT/SIGTERM: end our children by pid, run `cleanup`, exit 130. */
export function endChildrenOnSignal(cleanup: () => void): void {
  const onSignal = (): void => {
    for (const child of running) child.kill('SIGKILL');
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

let tasksetChecked: boolean | undefined;
export function canPin(): boolean {
  tasksetChecked ??= spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return tasksetChecked;
}

/** `taskset -c CPU` execs the program, so the pid spawn returns is the program's own. */
export function pinned(cpu: number | undefined, command: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [command, args] : ['taskset', ['-c', String(cpu), command, ...args]];
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Which output stream carries the `listening` line. */
  announceOn: 'stdout' | 'stderr';
  /** Extracts the URL from one line of that stream. */
  announce: RegExp;
  /** The other stream (or both, when no stdout is given) is copied here. */
  log: WriteStream;
  /** A file descriptor for stdout when stdout does not carry the announcement (the audit log). */
  stdoutFd?: number;
  timeoutMs?: number;
}

/** Starts a server process and resolves with its URL once it says it listens. */
export function startServer(options: StartOptions): Promise<Started> {
  const stdio: StdioOptions = [
    'ignore',
    options.announceOn === 'stdout' ? 'pipe' : (options.stdoutFd ?? 'pipe'),
    'pipe',
  ];
  const child = track(spawn(options.command, options.args, { stdio, env: options.env ?? process.env }));
  let exitReason: string | undefined;
  child.on('exit', (code, signal) => {
    exitReason = `exited with ${signal ?? `code ${String(code)}`}`;
  });
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    let buffered = '';
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${options.name} did not start: ${why} (log: ${options.log.path.toString()})`));
    };
    const timer = setTimeout(() => {
      fail(`no "listening" line within ${timeoutMs / 1000} s`);
    }, timeoutMs);
    child.on('error', (error) => {
      fail(error.message);
    });
    child.on('exit', (code, signal) => {
      fail(`exited with ${signal ?? `code ${String(code)}`}`);
    });
    const announcing = options.announceOn === 'stdout' ? child.stdout : child.stderr;
    const other = options.announceOn === 'stdout' ? child.stderr : child.stdout;
    other?.pipe(options.log, { end: false });
    announcing?.on('data', (chunk: Buffer) => {
      options.log.write(chunk);
      if (done) return;
      buffered += chunk.toString('utf8');
      const match = options.announce.exec(buffered);
      if (match?.[1] !== undefined && child.pid !== undefined) {
        done = true;
        clearTimeout(timer);
        buffered = '';
        resolve({ name: options.name, child, pid: child.pid, url: match[1], exited: () => exitReason });
      }
    });
  });
}

/** SIGTERM, then the exit code; SIGKILL after `graceMs`. */
export function stopServer(server: Started, graceMs = 15_000): Promise<number | null> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      resolve(server.child.exitCode);
      return;
    }
    const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
    server.child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    server.child.kill('SIGTERM');
  });
}

export interface Memory {
  rssMiB: number;
  /** VmHWM: the resident set's high-water mark since the process started. */
  peakRssMiB: number;
  /**
   * RssAnon: the resident pages that are the process's own. The rest of the RSS is file-backed,
   * mostly the pages of the node binary it ran (~50 MiB), shared with every Node process on the
   * machine and reclaimable by the kernel.
   */
  anonMiB: number;
}

export function memoryOf(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return {
      rssMiB: kib('VmRSS') / 1024,
      peakRssMiB: kib('VmHWM') / 1024,
      anonMiB: kib('RssAnon') / 1024,
    };
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU time of a process so far, in milliseconds (10 ms resolution). */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces; fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Read and write system calls made by a process so far (/proc/PID/io). */
export function syscallsOf(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const count = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(io)?.[1]);
    return { reads: count('syscr'), writes: count('syscw') };
  } catch {
    return { reads: Number.NaN, writes: Number.NaN };
  }
}

export interface CpuTimes {
  /** Time the CPU was not idle (user, nice, system, irq, softirq, steal), ms. */
  busyMs: number;
  /** Time the hypervisor gave to someone else, ms. */
  stealMs: number;
}

/** One CPU's counters from /proc/stat, to tell how much else ran on a server's CPU. */
export function cpuTimes(cpu: number): CpuTimes | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${cpu} `));
    if (line === undefined) return undefined;
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const toMs = (ticks: number): number => (ticks * 1000) / CLOCK_TICKS;
    return { busyMs: toMs(user + nice + system + irq + softirq + steal), stealMs: toMs(steal) };
  } catch {
    return undefined;
  }
}

/** Polls the RSS of some processes while load runs; the maximum seen per pid. */
export class RssSampler {
  private readonly max = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly pids: number[];
  constructor(pids: number[]) {
    this.pids = pids;
  }
  start(intervalMs = 100): void {
    this.timer = setInterval(() => {
      this.sample();
    }, intervalMs);
  }
  sample(): void {
    for (const pid of this.pids) {
      const memory = memoryOf(pid);
      if (memory) this.max.set(pid, Math.max(this.max.get(pid) ?? 0, memory.rssMiB));
    }
  }
  stop(): void {
    clearInterval(this.timer);
  }
  maxRssMiB(pid: number): number {
    return this.max.get(pid) ?? Number.NaN;
  }
}

export interface HttpAnswer {
  statusCode: number;
  body: string;
  httpVersion: string;
}

/** One HTTPS request trusting `ca` (HTTP/1.1, as the load generator speaks). */
export function httpsRequest(
  url: string,
  ca: Buffer,
  method: string,
  path: string,
  body?: string,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, url),
      {
        method,
        ca,
        servername: 'localhost',
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({
            statusCode: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            httpVersion: res.httpVersion,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** One HTTP/2 request over its own session, trusting `ca` (as the API server talks to webhooks). */
export function http2Request(
  url: string,
  ca: Buffer,
  method: string,
  path: string,
  body?: string,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const session = connect(url, { ca, servername: 'localhost' });
    session.on('error', reject);
    const stream = session.request({
      ':method': method,
      ':path': path,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    });
    stream.setTimeout(10_000, () => {
      stream.close();
      reject(new Error(`${method} ${path} over HTTP/2: no answer within 10 s`));
    });
    let statusCode = 0;
    stream.on('response', (headers) => {
      statusCode = Number(headers[':status']);
    });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      session.close();
      resolve({ statusCode, body: Buffer.concat(chunks).toString('utf8'), httpVersion: '2.0' });
    });
    stream.on('error', reject);
    stream.end(body);
  });
}
