/**
 * How the client (kubeClient.ts) reaches the API server: its URL, TLS and the Authorization
 * header, from the in-cluster service account or a kubeconfig.
 *
 * The kubeconfig is read here for what a webhook's or an operator's kubeconfig holds: a cluster
 * with a CA (file or data) or insecure-skip-tls-verify and tls-server-name, a user with a client
 * certificate (file or data), a token, a token file or a username and password, several files in
 * KUBECONFIG merged as kubectl merges them. A user with a credential plugin (`exec`,
 * `auth-provider`) or a cluster behind `proxy-url` is handed to @kubernetes/client-node, which
 * implements those: only such a configuration pays for loading it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, type RequestOptions } from 'node:https';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { SERVICE_ACCOUNT_DIR, type KubeConfigLocation, describeKubeConfig } from './kubeConfig.ts';

export interface KubeCredentials {
  /** The API server's URL (may carry a path prefix). */
  readonly server: string;
  readonly description: string;
  /** The current context's namespace, if it names one. */
  readonly namespace?: string | undefined;
  /** Agent (TLS) and headers (Authorization) for the next request. */
  requestOptions(): Promise<ConnectOptions>;
}

export type ConnectOptions = Omit<RequestOptions, 'headers'> & { headers?: Record<string, string> };

/** A file's content, given inline (base64, `*-data`) or by path. */
export type Material = { data: Buffer } | { file: string };

export type UserAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'token-file'; file: string }
  | { kind: 'basic'; username: string; password: string };

/** What a kubeconfig's current context says, with every path absolute. */
export interface ConnectionSettings {
  kind: 'settings';
  server: string;
  namespace?: string | undefined;
  ca?: Material | undefined;
  cert?: Material | undefined;
  key?: Material | undefined;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string | undefined;
  auth: UserAuth;
}

/** A configuration this module does not implement: client-node reads it. */
export interface DelegatedSettings {
  kind: 'delegated';
  why: string;
}

/** One parsed kubeconfig file and the directory its relative paths are resolved against. */
export interface KubeconfigFile {
  dir: string;
  content: unknown;
}

type Entry = Record<string, unknown>;

function record(value: unknown): Entry {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Entry) : {};
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** name → (entry, the directory of the file it came from); the first file to define a name wins. */
function namedEntries(files: KubeconfigFile[], list: string, field: string): Map<string, [Entry, string]> {
  const entries = new Map<string, [Entry, string]>();
  for (const file of files) {
    const items = record(file.content)[list];
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      const name = text(record(item).name);
      if (name !== undefined && !entries.has(name))
        entries.set(name, [record(record(item)[field]), file.dir]);
    }
  }
  return entries;
}

function material(entry: Entry, fileKey: string, dataKey: string, dir: string): Material | undefined {
  const data = text(entry[dataKey]);
  if (data !== undefined) return { data: Buffer.from(data, 'base64') };
  const file = text(entry[fileKey]);
  if (file !== undefined) return { file: isAbsolute(file) ? file : join(dir, file) };
  return undefined;
}

/**
 * The current context of merged kubeconfig files (kubectl's rules: the first file that sets
 * current-context, or defines a name, wins). Throws with a message naming what is missing.
 */
export function kubeconfigSettings(files: KubeconfigFile[]): ConnectionSettings | DelegatedSettings {
  const contextName = files.map((file) => text(record(file.content)['current-context'])).find(Boolean);
  if (contextName === undefined) throw new Error('the kubeconfig sets no current-context');
  const context = namedEntries(files, 'contexts', 'context').get(contextName)?.[0];
  if (!context) throw new Error(`the kubeconfig's current-context ${contextName} is not defined`);
  const clusterName = text(context.cluster);
  const cluster =
    clusterName === undefined ? undefined : namedEntries(files, 'clusters', 'cluster').get(clusterName);
  if (!cluster) throw new Error(`context ${contextName} names no defined cluster`);
  const [clusterEntry, clusterDir] = cluster;
  const server = text(clusterEntry.server);
  if (server === undefined) throw new Error(`cluster ${String(clusterName)} has no server`);
  const userName = text(context.user);
  const [user, userDir] = (userName === undefined
    ? undefined
    : namedEntries(files, 'users', 'user').get(userName)) ?? [{}, ''];

  if (user.exec !== undefined)
    return { kind: 'delegated', why: `user ${String(userName)} uses an exec plugin` };
  if (user['auth-provider'] !== undefined)
    return { kind: 'delegated', why: `user ${String(userName)} uses an auth-provider` };
  if (clusterEntry['proxy-url'] !== undefined)
    return { kind: 'delegated', why: `cluster ${String(clusterName)} is reached through proxy-url` };

  const token = text(user.token);
  const tokenFile = text(user.tokenFile);
  const username = text(user.username);
  const auth: UserAuth =
    token !== undefined
      ? { kind: 'token', token }
      : tokenFile !== undefined
        ? { kind: 'token-file', file: isAbsolute(tokenFile) ? tokenFile : join(userDir, tokenFile) }
        : username !== undefined
          ? { kind: 'basic', username, password: text(user.password) ?? '' }
          : { kind: 'none' };
  return {
    kind: 'settings',
    server,
    namespace: text(context.namespace),
    ca: material(clusterEntry, 'certificate-authority', 'certificate-authority-data', clusterDir),
    cert: material(user, 'client-certificate', 'client-certificate-data', userDir),
    key: material(user, 'client-key', 'client-key-data', userDir),
    insecureSkipTlsVerify: clusterEntry['insecure-skip-tls-verify'] === true,
    tlsServerName: text(clusterEntry['tls-server-name']),
    auth,
  };
}

/** The in-cluster service account: the API server's Service address, its CA and a bound token. */
export function inClusterSettings(
  env: NodeJS.ProcessEnv = process.env,
  dir: string = SERVICE_ACCOUNT_DIR,
): ConnectionSettings {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) throw new Error('KUBERNETES_SERVICE_HOST is not set: not running in a cluster');
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return {
    kind: 'settings',
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: { file: join(dir, 'ca.crt') },
    insecureSkipTlsVerify: false,
    // The kubelet rotates the bound token: it is read again for every request.
    auth: { kind: 'token-file', file: join(dir, 'token') },
  };
}

function load(material: Material | undefined): Buffer | undefined {
  if (!material) return undefined;
  return 'data' in material ? material.data : readFileSync(material.file);
}

async function authorization(auth: UserAuth): Promise<Record<string, string>> {
  switch (auth.kind) {
    case 'none':
      return {};
    case 'token':
      return { authorization: `Bearer ${auth.token}` };
    case 'token-file':
      return { authorization: `Bearer ${(await readFile(auth.file, 'utf8')).trim()}` };
    case 'basic':
      return {
        authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`,
      };
  }
}

/** Credentials from settings: certificates read once, one keep-alive agent. */
export function credentialsFrom(settings: ConnectionSettings, description: string): KubeCredentials {
  const ca = load(settings.ca);
  const cert = load(settings.cert);
  const key = load(settings.key);
  const agent = new Agent({
    keepAlive: true,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    rejectUnauthorized: !settings.insecureSkipTlsVerify,
    ...(settings.tlsServerName ? { servername: settings.tlsServerName } : {}),
  });
  return {
    server: settings.server,
    description,
    namespace: settings.namespace,
    requestOptions: async () => ({ agent, headers: await authorization(settings.auth) }),
  };
}

function kubeconfigPaths(location: KubeConfigLocation): string[] {
  if (location.kind === 'file') return [location.path];
  // kubectl skips a KUBECONFIG entry that names no file.
  if (location.kind === 'env')
    return location.value.split(delimiter).filter((path) => path !== '' && existsSync(path));
  return [];
}

/** The path fields of each kubeconfig section, resolved against the file they came from. */
const PATH_FIELDS: Record<string, string[]> = {
  clusters: ['certificate-authority'],
  users: ['client-certificate', 'client-key', 'tokenFile'],
  contexts: [],
};

/**
 * One kubeconfig from several, merged as kubeconfigSettings reads them (first current-context,
 * first definition of a name) with every path absolute: what client-node is given, so it uses
 * the context this module examined (its own KUBECONFIG merge takes the last current-context and
 * refuses duplicate names).
 */
export function mergedKubeconfig(files: KubeconfigFile[]): Entry {
  const merged: Entry = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': files.map((file) => text(record(file.content)['current-context'])).find(Boolean),
  };
  for (const [list, pathFields] of Object.entries(PATH_FIELDS)) {
    const field = list.slice(0, -1);
    merged[list] = [...namedEntries(files, list, field)].map(([name, [entry, dir]]) => {
      const resolved: Entry = { ...entry };
      for (const key of pathFields) {
        const value = text(entry[key]);
        if (value !== undefined && !isAbsolute(value)) resolved[key] = join(dir, value);
      }
      return { name, [field]: resolved };
    });
  }
  return merged;
}

/** client-node for the configurations kubeconfigSettings delegates. */
async function delegatedCredentials(files: KubeconfigFile[], description: string): Promise<KubeCredentials> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const config = new KubeConfig();
  // JSON is YAML: client-node parses it as such.
  config.loadFromString(JSON.stringify(mergedKubeconfig(files)));
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error(`${description} names no cluster server`);
  return {
    server,
    description,
    namespace: config.getContextObject(config.getCurrentContext())?.namespace,
    requestOptions: async () => {
      const options: RequestOptions = {};
      await config.applyToHTTPSOptions(options);
      const { headers, ...rest } = options;
      const plain: Record<string, string> = {};
      if (headers && !Array.isArray(headers))
        for (const [name, value] of Object.entries(headers))
          if (value !== undefined) plain[name] = String(value);
      return { ...rest, headers: plain };
    },
  };
}

export async function loadCredentials(location: KubeConfigLocation): Promise<KubeCredentials> {
  const description = describeKubeConfig(location);
  if (location.kind === 'in-cluster') return credentialsFrom(inClusterSettings(), description);
  // yaml is loaded only for a kubeconfig; in a cluster the service account needs none.
  const { parse } = await import('yaml');
  const files = kubeconfigPaths(location).map((path) => ({
    dir: dirname(path),
    content: parse(readFileSync(path, 'utf8')) as unknown,
  }));
  const settings = kubeconfigSettings(files);
  if (settings.kind === 'delegated') return delegatedCredentials(files, `${description} (${settings.why})`);
  return credentialsFrom(settings, description);
}
