/**
 * The webhook under test as users run it: the built `bin/kafka-nodeport-injector serve`, a child
 * process on 127.0.0.1 whose stdout (the audit log, one JSON line per decision) is captured here.
 * Stopping it with SIGTERM and starting it again on the same port is how the end-to-end run shows
 * `failurePolicy: Fail` at work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './cluster.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The CLI under test; KNI_E2E_CLI points at another build of it (e.g. to try a fix). */
export const CLI = process.env['KNI_E2E_CLI'] ?? path.join(REPO_ROOT, 'bin', 'kafka-nodeport-injector');

/**
 * bin/ runs dist/: rebuild it when a source file is newer than the build (a fresh clone after
 * `npm ci` is up to date). KNI_SKIP_BUILD=1 takes dist/ as it is. Returns whether it built.
 */
export async function ensureBuilt(): Promise<boolean> {
  const entry = path.join(REPO_ROOT, 'dist/cli/main.js');
  if (process.env['KNI_SKIP_BUILD'] === '1' && existsSync(entry)) return false;
  const builtAt = existsSync(entry) ? statSync(entry).mtimeMs : 0;
  const src = path.join(REPO_ROOT, 'src');
  const sources = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts'));
  if (sources.every((f) => statSync(path.join(src, f)).mtimeMs < builtAt)) return false;
  const tsc = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
  const result = await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT });
  if (result.code !== 0) throw new Error(`build failed:\n${result.stdout}${result.stderr}`);
  return true;
}

/** One audit line (SPEC §5); only the fields the run reads. */
export interface AuditRecord {
  uid: string;
  user: string;
  operation: string;
  kind: string;
  namespace: string;
  name: string;
  dryRun: boolean;
  decision: string;
  reason: string;
  message: string;
  patchPaths: string[];
  durationMs: number;
  unread?: string[];
}

export interface WebhookOptions {
  port: number;
  metricsPort: number;
  certFile: string;
  keyFile: string;
  caPem: string;
  kubeconfig: string;
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function isAuditRecord(value: unknown): value is AuditRecord {
  return typeof value === 'object' && value !== null && typeof (value as { uid?: unknown }).uid === 'string';
}

/** GET https://127.0.0.1:<port><path> trusting the cluster CA; resolves with the status code (0: no answer). */
function probe(port: number, urlPath: string, caPem: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: urlPath, ca: caPem, agent: false, timeout: 2000 },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(0);
    });
  });
}

export class WebhookProcess {
  /** Every audit record of every start, in order. */
  readonly audit: AuditRecord[] = [];
  /** Lines on stdout that were not audit records (there should be none). */
  readonly strayStdout: string[] = [];
  readonly #options: WebhookOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  #stderr = '';

  constructor(options: WebhookOptions) {
    this.#options = options;
  }

  get url(): string {
    return `https://127.0.0.1:${this.#options.port}/mutate`;
  }

  /** The running process's pid. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** The server log (stderr) so far, last `lines` lines. */
  logTail(lines = 30): string {
    return this.#stderr.split('\n').slice(-lines).join('\n');
  }

  /** Start `serve` and wait for /readyz (certificates loaded, namespace watch synced). */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.#child) throw new Error('webhook already running');
    const o = this.#options;
    const argv = [
      CLI,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(o.port),
      '--metrics-port',
      String(o.metricsPort),
      '--tls-cert',
      o.certFile,
      '--tls-key',
      o.keyFile,
      '--kubeconfig',
      o.kubeconfig,
      '--log-level',
      'warn',
    ];
    const [cmd, args] =
      SETPRIV !== undefined
        ? [SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...argv]]
        : [process.execPath, argv];
    const child = spawn(cmd, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
    });
    live.add(child);
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.on('exit', (code) => {
        live.delete(child);
        resolve(code);
      });
    });
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          parsed = undefined;
        }
        if (isAuditRecord(parsed)) this.audit.push(parsed);
        else this.strayStdout.push(line);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-100_000);
    });
    const deadline = Date.now() + timeoutMs;
    let exitCode: number | null | undefined;
    void this.#exited.then((code) => {
      exitCode = code;
    });
    for (;;) {
      if (exitCode !== undefined) {
        this.#child = undefined;
        throw new Error(`webhook exited with ${String(exitCode)} before it was ready:\n${this.logTail()}`);
      }
      if ((await probe(o.port, '/readyz', o.caPem)) === 200) return;
      if (Date.now() > deadline)
        throw new Error(`webhook not ready after ${timeoutMs} ms:\n${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM (graceful drain), then SIGKILL if it lingers; resolves once the process is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await this.#exited;
    clearTimeout(timer);
    this.#child = undefined;
  }

  /** Audit records from index `from` on (take `audit.length` before an action, read after it). */
  since(from: number): AuditRecord[] {
    return this.audit.slice(from);
  }
}
