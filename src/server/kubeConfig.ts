/**
 * Where the server's Kubernetes credentials come from, decided without loading the Kubernetes
 * client: `serve` on a laptop has none, and then must not pay for importing it.
 *
 * Only explicit sources count (`--kubeconfig`, `KUBECONFIG`, the in-cluster service account), not
 * `~/.kube/config`: a developer trying the webhook locally should not have it silently watch
 * whatever cluster their shell last pointed at.
 */
import { existsSync, readFileSync } from 'node:fs';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type KubeConfigLocation =
  { kind: 'file'; path: string } | { kind: 'env'; value: string } | { kind: 'in-cluster' };

export function findKubeConfig(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean = existsSync,
): KubeConfigLocation | undefined {
  if (flag) return { kind: 'file', path: flag };
  if (env.KUBECONFIG) return { kind: 'env', value: env.KUBECONFIG };
  if (env.KUBERNETES_SERVICE_HOST && exists(`${SERVICE_ACCOUNT_DIR}/token`)) return { kind: 'in-cluster' };
  return undefined;
}

export function describeKubeConfig(location: KubeConfigLocation): string {
  switch (location.kind) {
    case 'file':
      return `kubeconfig ${location.path}`;
    case 'env':
      return `KUBECONFIG=${location.value}`;
    case 'in-cluster':
      return 'in-cluster service account';
  }
}

/**
 * The webhook's own namespace, which SPEC §2 says is never mutated: `POD_NAMESPACE` (downward
 * API), else the service account's namespace file.
 */
export function ownNamespace(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync(`${SERVICE_ACCOUNT_DIR}/namespace`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
