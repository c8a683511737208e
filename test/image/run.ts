/**
 * `npm run test:image`: the Dockerfile built without a Docker daemon (buildah, on the base that
 * `npm run setup` made, test/image/base.sh) and the image run under a real OCI runtime (crun) with
 * the Deployment's securityContext — uid 65532, read-only root file system, no capabilities, no
 * new privileges — in a network namespace of its own. With no arguments it must serve: /healthz
 * and an AdmissionReview answered over TLS, trusted by the development CA it logs. Prints the
 * image size. `ok` / `not ok` per check, last `N passed, N failed`.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { freePorts, startCluster } from '../e2e/cluster.ts';
import { createNamespace, INJECT_LABEL, MWC_FILE } from '../e2e/webhookCluster.ts';
import type { StatefulSet } from '../../src/core/kubeTypes.ts';
import { envStatefulSet } from '../support/fixtures.ts';

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

interface Container {
  stderr: () => string;
  /** Resolves with the `https://…` it serves on, or undefined when it exits or takes 30 s. */
  serving: Promise<string | undefined>;
  stop: () => Promise<void>;
}

interface RunOptions {
  /** The image's arguments (default: its CMD). */
  args?: string[];
  env?: string[];
  /** A network namespace of the test's (default: the host's, for a server bound to loopback). */
  netns?: string;
  /** Host file -> container path, read-only. */
  files?: Record<string, string>;
}

function imageConfig(): ImageConfig {
  const inspected = JSON.parse(run('buildah', ['inspect', '--type', 'image', IMAGE])) as {
    OCIv1: { config?: ImageConfig };
  };
  return inspected.OCIv1.config ?? {};
}

/**
 * The image under crun with the Deployment's securityContext: uid/gid 65532, read-only root, no
 * capabilities, no new privileges.
 */
function runImage(name: string, config: ImageConfig, options: RunOptions): Container {
  const id = `kni-image-${name}-${String(process.pid)}`;
  const bundle = mkdtempSync(join(tmpdir(), 'kni-image-'));
  const ctr = run('buildah', ['from', '--pull=never', IMAGE]).trim();
  const rootfs = run('buildah', ['mount', ctr]).trim();
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
  spec.process['env'] = [...(config.Env ?? []), ...(options.env ?? [])];
  spec.process['args'] = [...(config.Entrypoint ?? []), ...(options.args ?? config.Cmd ?? [])];
  spec.process['noNewPrivileges'] = true;
  spec.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  spec.linux.namespaces = spec.linux.namespaces
    .filter((n) => n.type !== 'cgroup' && (n.type !== 'network' || options.netns !== undefined))
    .map((n) =>
      n.type === 'network' ? { type: 'network', path: `/var/run/netns/${options.netns ?? ''}` } : n,
    );
  spec.mounts = spec.mounts.filter((m) => m.type !== 'cgroup');
  for (const [source, destination] of Object.entries(options.files ?? {})) {
    spec.mounts.push({ destination, type: 'bind', source, options: ['bind', 'ro'] });
  }
  delete (spec.linux as { resources?: unknown }).resources;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

  const child = spawn(
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
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  child.stdout.resume();
  const serving = new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => {
      resolve(undefined);
    }, 30_000);
    child.stderr.on('data', () => {
      const match = /serving (https:\/\/[^\s/]+)\/mutate/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', () => {
      resolve(undefined);
    });
  });
  return {
    stderr: () => stderr,
    serving,
    stop: async () => {
      spawnSync('crun', ['kill', id, 'SIGKILL']);
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
      spawnSync('crun', ['delete', '--force', id]);
      spawnSync('buildah', ['umount', ctr]);
      spawnSync('buildah', ['rm', ctr]);
      rmSync(bundle, { recursive: true, force: true });
    },
  };
}

/** A Kafka StatefulSet of the bitnami 12–22 shape (env-wired listeners), as the API server takes it. */
function kafkaStatefulSet(): StatefulSet {
  const sts = envStatefulSet(
    'INTERNAL://$(MY_POD_NAME).kafka-headless:9093,CLIENT://$(MY_POD_NAME).kafka-headless:9092',
  );
  return { ...sts, spec: { ...sts.spec, serviceName: 'kafka-headless' } };
}

async function runDefault(config: ImageConfig): Promise<void> {
  const netns = `kni-image-${String(process.pid)}`;
  run('ip', ['netns', 'add', netns]);
  run('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
  const container = runImage('default', config, { netns });
  try {
    const url = await container.serving;
    check(
      'with no arguments, as uid 65532 on a read-only root with no capabilities, it serves',
      url !== undefined,
      container.stderr().slice(-1500),
    );
    if (url === undefined) return;
    const stderr = container.stderr();
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
      const call = (method, path, body) => new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: 8443, method, path, ca: process.env.CA, servername: 'localhost',
          headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
          let text = ''; res.on('data', (c) => (text += c)); res.on('end', () => resolve({ status: res.statusCode, text }));
        });
        req.on('error', reject); req.end(body);
      });
      (async () => {
        const health = await call('GET', '/healthz');
        const answer = await call('POST', '/mutate', process.env.REVIEW);
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
        object: kafkaStatefulSet(),
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
    await container.stop();
    spawnSync('ip', ['netns', 'delete', netns]);
  }
}

/**
 * The Deployment's own args, as the webhook a real API server calls: self-managed certificates
 * (the Secret, the caBundle patched by the webhook itself), a Kafka StatefulSet admitted through
 * it. Only the listen addresses change (loopback, free ports) and `--kubeconfig` replaces the
 * in-cluster credentials; the API server reaches it by URL, hence `--cert-ip=127.0.0.1`.
 */
async function runAsDeployment(config: ImageConfig): Promise<void> {
  const deployment = parse(readFileSync(join(REPO, 'manifests/base/deployment.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  const [port = 0, metricsPort = 0] = await freePorts(2);
  const replaced: Record<string, string> = {
    '--host': '127.0.0.1',
    '--port': String(port),
    '--metrics-host': '127.0.0.1',
    '--metrics-port': String(metricsPort),
  };
  const args = (deployment.spec.template.spec.containers[0]?.args ?? []).map((arg) => {
    const [flag = '', value] = arg.split('=');
    return value !== undefined && replaced[flag] !== undefined ? `${flag}=${replaced[flag]}` : arg;
  });
  const cluster = await startCluster({ nodes: [], log: () => undefined });
  const dir = mkdtempSync(join(tmpdir(), 'kni-image-kube-'));
  let container: Container | undefined;
  try {
    // Credentials the image's user can read, embedded (the cluster's key files are root's).
    const b64 = (file: string): string => readFileSync(file).toString('base64');
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'e2e',
            cluster: { server: cluster.server, 'certificate-authority-data': b64(cluster.caFile) },
          },
        ],
        users: [
          {
            name: 'admin',
            user: {
              'client-certificate-data': b64(cluster.adminCertFile),
              'client-key-data': b64(cluster.adminKeyFile),
            },
          },
        ],
        contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'admin' } }],
        'current-context': 'e2e',
      }),
      { mode: 0o644 },
    );
    const namespace = 'kafka-nodeport-injector';
    await createNamespace(cluster, namespace, {}, {});
    await createNamespace(cluster, 'kafka', INJECT_LABEL, {});
    const shipped = parse(readFileSync(MWC_FILE, 'utf8')) as { webhooks: Record<string, unknown>[] };
    for (const w of shipped.webhooks) w['clientConfig'] = { url: `https://127.0.0.1:${String(port)}/mutate` };
    const created = await cluster.api(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      shipped,
    );
    if (created.status !== 201) throw new Error(`webhook configuration: ${created.text}`);

    container = runImage('deployment', config, {
      args: [...args, '--kubeconfig=/etc/kni/kubeconfig', '--cert-ip=127.0.0.1'],
      env: [`POD_NAMESPACE=${namespace}`],
      files: { [kubeconfig]: '/etc/kni/kubeconfig' },
    });
    const url = await container.serving;
    check(
      `with the Deployment's args (${args.join(' ')}) it serves`,
      url !== undefined,
      container.stderr().slice(-1500),
    );
    if (url === undefined) return;
    // The API server calls it once it trusts it: the webhook itself puts its CA in the caBundle.
    const statefulSet = JSON.stringify(kafkaStatefulSet());
    let stored = '';
    for (let i = 0; i < 150 && !stored.includes('MY_HOST_IP'); i++) {
      const r = await cluster.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], {
        input: statefulSet,
      });
      stored = r.stdout;
      if (!stored.includes('MY_HOST_IP')) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    check(
      'the API server admits a Kafka StatefulSet through it, mutated (self-managed certificates, caBundle patched by the webhook)',
      stored.includes('MY_HOST_IP'),
      `${stored.slice(0, 300)}\n${container.stderr().slice(-1500)}`,
    );
  } finally {
    await container?.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  const base = spawnSync('bash', [join(REPO, 'test/image/base.sh'), '--check'], { encoding: 'utf8' });
  if (base.status !== 0) throw new Error(base.stderr.trim());
  build();
  const config = imageConfig();
  const size = run('buildah', ['images', '--format', '{{.Size}}', '--noheading', IMAGE]).trim();
  console.log(
    `# image ${IMAGE}: ${size} (user ${config.User ?? '?'}, ${JSON.stringify(config.Entrypoint)} ${JSON.stringify(config.Cmd)})`,
  );
  check('the image runs as 65532:65532', config.User === '65532:65532', config.User ?? 'no user');
  await runDefault(config);
  await runAsDeployment(config);
} catch (error) {
  failed += 1;
  console.log(`not ok - image run aborted: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  spawnSync('buildah', ['rmi', IMAGE]);
}
console.log(`${String(passed)} passed, ${String(failed)} failed`);
process.exitCode = failed > 0 ? 1 : 0;
