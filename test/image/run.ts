/**
 * `npm run test:image`: the Dockerfile built without a Docker daemon (buildah, on the base that
 * `npm run setup` made, test/image/base.sh) and the image run under a real OCI runtime (crun) with
 * the Deployment's securityContext — uid 65532, read-only root file system, no capabilities, no
 * new privileges — in a network namespace of its own. With no arguments it must serve: /healthz
 * and an AdmissionReview answered over TLS, trusted by the development CA it logs. Prints the
 * image size. `ok` / `not ok` per check, last `N passed, N failed`.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BASE = 'localhost/node:24-bookworm-slim';
const IMAGE = 'localhost/kafka-nodeport-injector:test';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
let passed = 0;
let failed = 0;

function check(name: string, ok: boolean, detail = ''): void {
  if (ok) passed += 1;
  else failed += 1;
  const shown = !ok && detail ? `\n  ${detail.replaceAll('\n', '\n  ')}` : '';
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${shown}`);
}

function run(cmd: string, args: string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, maxBuffer: 64 * 1024 * 1024 });
}

function build(): void {
  const started = Date.now();
  const args = [
    'bud',
    '--quiet',
    '--pull=never',
    '--network=host',
    '--isolation=chroot',
    '--build-arg',
    `BASE=${BASE}`,
  ];
  // Where the registry is reached through a TLS-intercepting proxy, the build trusts its CA.
  if (process.env['NODE_EXTRA_CA_CERTS']) {
    args.push(
      '--build-arg',
      `NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`,
      '-v',
      `${process.env['NODE_EXTRA_CA_CERTS']}:${CA_BUNDLE}:ro`,
    );
  }
  const result = spawnSync('buildah', [...args, '-t', IMAGE, REPO], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  check(
    `buildah bud of the Dockerfile (base ${BASE}, no Docker daemon) in ${String(Math.round((Date.now() - started) / 1000))} s`,
    result.status === 0,
    result.status === 0 ? '' : `${result.stdout.slice(-2000)}${result.stderr.slice(-2000)}`,
  );
  if (result.status !== 0) throw new Error('build failed');
}

interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  Env?: string[];
  User?: string;
}

async function runDefault(): Promise<void> {
  const inspected = JSON.parse(run('buildah', ['inspect', '--type', 'image', IMAGE])) as {
    OCIv1: { config?: ImageConfig };
  };
  const config = inspected.OCIv1.config ?? {};
  const size = Number(
    run('buildah', ['images', '--format', '{{.Size}}', '--noheading', IMAGE]).trim().split(/\s+/)[0] ?? '0',
  );
  console.log(
    `# image ${IMAGE}: ${String(size)} MB (user ${config.User ?? '?'}, ${JSON.stringify(config.Entrypoint)} ${JSON.stringify(config.Cmd)})`,
  );
  check('the image runs as 65532:65532', config.User === '65532:65532', config.User ?? 'no user');

  const id = `kni-image-${String(process.pid)}`;
  const bundle = mkdtempSync(join(tmpdir(), 'kni-image-'));
  const ctr = run('buildah', ['from', '--pull=never', IMAGE]).trim();
  const netns = id;
  let container: ReturnType<typeof spawn> | undefined;
  try {
    const rootfs = run('buildah', ['mount', ctr]).trim();
    run('ip', ['netns', 'add', netns]);
    run('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
    run('crun', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(run('cat', [join(bundle, 'config.json')])) as {
      process: Record<string, unknown> & { capabilities?: unknown };
      root: { path: string; readonly: boolean };
      linux: { namespaces: { type: string; path?: string }[] };
      mounts: { destination: string; type: string; source: string; options?: string[] }[];
    };
    spec.root = { path: rootfs, readonly: true };
    spec.process['terminal'] = false;
    spec.process['user'] = { uid: 65532, gid: 65532 };
    spec.process['cwd'] = config.WorkingDir ?? '/';
    spec.process['env'] = config.Env ?? [];
    spec.process['args'] = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    spec.process['noNewPrivileges'] = true;
    spec.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
    spec.linux.namespaces = spec.linux.namespaces
      .filter((n) => n.type !== 'cgroup')
      .map((n) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/${netns}` } : n));
    spec.mounts = spec.mounts.filter((m) => m.type !== 'cgroup');
    delete (spec.linux as { resources?: unknown }).resources;
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

    // No cgroups: this is about the process's privileges, not its resource limits (and a
    // hybrid cgroup hierarchy, as on this machine, is not supported by crun).
    container = spawn(
      'unshare',
      [
        '--mount',
        'sh',
        '-c',
        // crun refuses a hybrid hierarchy (cgroup v1 with a v2 mount beside it); without cgroups
        // in its own mount namespace it sees none.
        'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --cgroup-manager=disabled run --bundle "$0" "$1"',
        bundle,
        id,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    container.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    container.stdout?.resume();
    const started = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
      }, 30_000);
      container?.stderr?.on('data', () => {
        if (/serving https:\/\/[^\s]+\/mutate/.test(stderr)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      container?.once('exit', () => {
        resolve(false);
      });
    });
    check(
      'with no arguments, as uid 65532 on a read-only root with no capabilities, it serves',
      started,
      stderr.slice(-1500),
    );
    if (!started) return;
    const ca =
      /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(stderr.replaceAll('\\n', '\n'))?.[0] ??
      '';
    check(
      'its development pair is kept in memory and its CA logged',
      /kept in memory/.test(stderr) && ca !== '',
    );
    // A client inside the container's network namespace, on its loopback.
    const client = `
      const https = require('node:https');
      const ca = process.env.CA;
      const call = (method, path, body) => new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: 8443, method, path, ca, servername: 'localhost',
          headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
          let text = ''; res.on('data', (c) => (text += c)); res.on('end', () => resolve({ status: res.statusCode, text }));
        });
        req.on('error', reject); req.end(body);
      });
      (async () => {
        const health = await call('GET', '/healthz');
        const review = JSON.parse(process.env.REVIEW);
        const answer = await call('POST', '/mutate', JSON.stringify(review));
        console.log(JSON.stringify({ health, answer }));
      })().catch((e) => { console.log(JSON.stringify({ error: String(e) })); });`;
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'image-1',
        kind: { group: 'apps', version: 'v1', kind: 'StatefulSet' },
        resource: { group: 'apps', version: 'v1', resource: 'statefulsets' },
        namespace: 'kafka',
        operation: 'CREATE',
        userInfo: { username: 'image-test' },
        object: {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          metadata: { name: 'kafka', namespace: 'kafka', labels: { 'app.kubernetes.io/name': 'kafka' } },
          spec: {
            serviceName: 'kafka-headless',
            selector: { matchLabels: { 'app.kubernetes.io/name': 'kafka' } },
            template: {
              metadata: { labels: { 'app.kubernetes.io/name': 'kafka' } },
              spec: {
                containers: [
                  {
                    name: 'kafka',
                    image: 'bitnamilegacy/kafka:3.9.0',
                    env: [
                      { name: 'MY_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                      { name: 'KAFKA_CFG_LISTENERS', value: 'INTERNAL://:9093,CLIENT://:9092' },
                      {
                        name: 'KAFKA_CFG_ADVERTISED_LISTENERS',
                        value:
                          'INTERNAL://$(MY_POD_NAME).kafka-headless:9093,CLIENT://$(MY_POD_NAME).kafka-headless:9092',
                      },
                      { name: 'KAFKA_INTER_BROKER_LISTENER_NAME', value: 'INTERNAL' },
                    ],
                    ports: [{ name: 'kafka-client', containerPort: 9092 }],
                  },
                ],
              },
            },
          },
        },
      },
    };
    const out = spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', client], {
      encoding: 'utf8',
      env: { ...process.env, CA: ca, REVIEW: JSON.stringify(review) },
      timeout: 20_000,
    });
    const result = JSON.parse(out.stdout.trim() || '{}') as {
      health?: { status: number };
      answer?: { status: number; text: string };
      error?: string;
    };
    check(
      '/healthz answers 200 over TLS, trusted by the logged CA',
      result.health?.status === 200,
      JSON.stringify(result).slice(0, 500),
    );
    const response = result.answer
      ? (JSON.parse(result.answer.text) as { response?: { uid?: string; allowed?: boolean; patch?: string } })
      : {};
    check(
      'an AdmissionReview is answered: allowed, with its uid and a JSONPatch exposing the broker',
      response.response?.uid === 'image-1' &&
        response.response.allowed === true &&
        Buffer.from(response.response.patch ?? '', 'base64')
          .toString('utf8')
          .includes('MY_HOST_IP'),
      result.answer?.text.slice(0, 500) ?? result.error ?? out.stderr,
    );
  } finally {
    spawnSync('crun', ['kill', id, 'SIGKILL']);
    if (container && container.exitCode === null)
      await new Promise((resolve) => container?.once('exit', resolve));
    spawnSync('crun', ['delete', '--force', id]);
    spawnSync('ip', ['netns', 'delete', netns]);
    spawnSync('buildah', ['umount', ctr]);
    spawnSync('buildah', ['rm', ctr]);
    rmSync(bundle, { recursive: true, force: true });
  }
}

try {
  const base = spawnSync('bash', [join(REPO, 'test/image/base.sh'), '--check'], { encoding: 'utf8' });
  if (base.status !== 0) throw new Error(base.stderr.trim());
  build();
  await runDefault();
} catch (error) {
  failed += 1;
  console.log(`not ok - image run aborted: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  spawnSync('buildah', ['rmi', IMAGE]);
}
console.log(`${String(passed)} passed, ${String(failed)} failed`);
process.exitCode = failed > 0 ? 1 : 0;
