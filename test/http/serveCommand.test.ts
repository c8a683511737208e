/**
 * SPEC §5 CLI: `serve` with no TLS flags makes a development CA and pair in certs/ and serves
 * HTTPS; every decision leaves one audit line on stdout (logs go to stderr); SIGTERM exits 0.
 * `certs` writes a CA and a serving certificate with the Service's DNS names and given IPs.
 * Both run as real processes, the way users start them.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { AuditRecord } from '../../src/server/audit.ts';
import { h1Request, kafkaStatefulSet, review, servingUrl, tempDir } from './helpers.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).href;
const ENTRY = `const { main } = await import(${JSON.stringify(MAIN)}); await main(['node', 'kafka-nodeport-injector', ...process.argv.slice(1)]);`;

function run(args: string[], cwd: string): ReturnType<typeof spawn> {
  // No cluster credentials: namespace annotations must be off, whatever the developer's shell has.
  const env = { ...process.env };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  return spawn(process.execPath, ['--input-type=module', '-e', ENTRY, ...args], { cwd, env });
}

function collect(stream: NodeJS.ReadableStream | null): { text: () => string } {
  let text = '';
  stream?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return { text: () => text };
}

t.test('serve with no TLS flags: dev certificates in certs/, audit on stdout, SIGTERM exits 0', async (t) => {
  const { dir, remove } = tempDir('serve');
  t.teardown(remove);
  const child = run(['serve', '--port', '0', '--metrics-port', '0', '--node-port', '31999'], dir);
  t.teardown(() => child.kill('SIGKILL'));
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  const url = await servingUrl(child.stderr, stderr.text, 15_000);
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, 'listens on 127.0.0.1');
  t.match(stderr.text(), /namespace annotations off/, 'says namespace annotations are off');
  const ca = await readFile(join(dir, 'certs', 'ca.crt'), 'utf8');
  const serving = new X509Certificate(await readFile(join(dir, 'certs', 'tls.crt'), 'utf8'));
  t.ok(serving.checkIssued(new X509Certificate(ca)), 'certs/tls.crt is signed by certs/ca.crt');

  t.equal((await h1Request(url, ca, { path: '/healthz' })).status, 200);
  const body = JSON.stringify(review(kafkaStatefulSet('env-value-never-logged'), { uid: 'cli-1' }));
  const answer = await h1Request(url, ca, { method: 'POST', path: '/mutate', body });
  t.equal(answer.status, 200);
  t.match(answer.body, /"uid":"cli-1"/);
  t.match(
    Buffer.from(
      (JSON.parse(answer.body) as { response: { patch: string } }).response.patch,
      'base64',
    ).toString(),
    /:31999/,
    '--node-port is the server default',
  );

  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.equal(await exit, 0, 'SIGTERM exits 0');
  const lines = stdout
    .text()
    .split('\n')
    .filter((l) => l !== '');
  t.equal(lines.length, 1, 'stdout holds exactly one audit line');
  t.match(JSON.parse(lines[0] ?? '{}') as AuditRecord, {
    uid: 'cli-1',
    decision: 'mutated',
    kind: 'StatefulSet',
  });
  t.notMatch(stdout.text() + stderr.text(), /env-value-never-logged/, 'no env values in any output');
});

t.test('serve refuses a bad configuration flag before listening', async (t) => {
  const { dir, remove } = tempDir('serve-bad');
  t.teardown(remove);
  const child = run(['serve', '--port', '0', '--metrics-port', '0', '--anti-affinity', 'sometimes'], dir);
  const stderr = collect(child.stderr);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 1);
  t.match(stderr.text(), /anti-affinity.*sometimes/);
});

t.test('certs writes a CA and a serving certificate for the Service names and given IPs', async (t) => {
  const { dir, remove } = tempDir('certs');
  t.teardown(remove);
  const out = join(dir, 'out');
  const child = run(
    ['certs', '--service', 'kni', '--namespace', 'tools', '--ip', '10.0.0.7,127.0.0.1', '--out', out],
    dir,
  );
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 0);
  const ca = new X509Certificate(await readFile(join(out, 'ca.crt'), 'utf8'));
  const serving = new X509Certificate(await readFile(join(out, 'tls.crt'), 'utf8'));
  t.ok(ca.ca, 'ca.crt is a CA');
  t.notOk(serving.ca, 'tls.crt is not');
  t.ok(serving.checkIssued(ca) && serving.verify(ca.publicKey), 'signed by the CA');
  for (const host of ['kni', 'kni.tools', 'kni.tools.svc', 'kni.tools.svc.cluster.local', 'localhost']) {
    t.equal(serving.checkHost(host), host, `valid for ${host}`);
  }
  for (const ip of ['10.0.0.7', '127.0.0.1']) t.equal(serving.checkIP(ip), ip, `valid for ${ip}`);
  t.equal(serving.checkHost('kni.other.svc'), undefined, 'not for another namespace');
  const keyMode = (await import('node:fs')).statSync(join(out, 'tls.key')).mode & 0o777;
  t.equal(keyMode, 0o600, 'the key is private to its owner');
});

t.test('certs rejects an IP that is not one', async (t) => {
  const { dir, remove } = tempDir('certs-bad');
  t.teardown(remove);
  const child = run(['certs', '--ip', 'not-an-ip', '--out', join(dir, 'out')], dir);
  const stderr = collect(child.stderr);
  t.equal(await new Promise<number | null>((resolve) => child.once('exit', resolve)), 1);
  t.match(stderr.text(), /--ip: "not-an-ip"/);
});

t.test('npm start: SIGTERM to npm stops the server too (no orphan)', async (t) => {
  const { dir, remove } = tempDir('npm-start');
  t.teardown(remove);
  const env = { ...process.env };
  delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  const repo = new URL('../..', import.meta.url).pathname;
  const child = spawn(
    'npm',
    ['start', '--silent', '--', '--port', '0', '--metrics-port', '0', '--cert-dir', dir],
    {
      cwd: repo,
      env,
    },
  );
  t.teardown(() => child.kill('SIGKILL'));
  const stderr = collect(child.stderr);
  child.stdout.resume();
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`serve did not start:\n${stderr.text()}`));
    }, 20_000);
    child.stderr.on('data', () => {
      const match = /"pid":(\d+)[^\n]*serving https/.exec(stderr.text());
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  const alive = (p: number): boolean => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  };
  t.ok(alive(pid), `the server (pid ${String(pid)}) runs`);
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exit;
  // The server drains before it exits; it must not outlive npm by more than that.
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.notOk(alive(pid), 'the server stopped with npm');
});

t.test(
  'serve with no flags where certs/ cannot be written (an image user, a read-only root): the pair is kept in memory',
  async (t) => {
    const { dir, remove } = tempDir('readonly');
    t.teardown(remove);
    chmodSync(dir, 0o555);
    // Root writes anywhere: run as the image's user instead, whom the directory refuses.
    const asImageUser = process.getuid?.() === 0 ? { uid: 65532, gid: 65532 } : {};
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
    delete env.KUBECONFIG;
    delete env.KUBERNETES_SERVICE_HOST;
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', ENTRY, 'serve', '--port', '0', '--metrics-port', '0'],
      {
        cwd: dir,
        env,
        ...asImageUser,
      },
    );
    t.teardown(() => child.kill('SIGKILL'));
    const stderr = collect(child.stderr);
    child.stdout.resume();
    const url = await servingUrl(child.stderr, stderr.text, 20_000);
    t.match(stderr.text(), /is not writable \(EACCES\): a development certificate kept in memory/);
    const ca = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(
      stderr.text().replaceAll('\\n', '\n'),
    )?.[0];
    if (!ca) throw new Error(`no CA logged:\n${stderr.text()}`);
    t.equal(
      (await h1Request(url, ca, { path: '/healthz' })).status,
      200,
      'answers, trusted by the logged CA',
    );
  },
);
