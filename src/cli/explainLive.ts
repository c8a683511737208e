/**
 * `explain --kubeconfig FILE -n NAMESPACE`: fetches what the namespace holds and hands it to the
 * core's live explanation (src/core/liveExplanation.ts). Reads only: namespaces, StatefulSets,
 * Services, ConfigMaps and Pods of that namespace; and asks the API server (a SubjectAccessReview,
 * which stores nothing) whether the webhook's ServiceAccount may read its release records.
 */
import type { RawConfig } from '../core/config.ts';
import { explainLive, type LiveExplanation, type LivePod } from '../core/liveExplanation.ts';
import { connectKube } from '../server/kubeClient.ts';
import type { KubeConfigLocation } from '../server/kubeConfig.ts';
import { SYSTEM_NAMESPACES } from '../server/admissionHandler.ts';
import { DEFAULT_WEBHOOK_IDENTITY, type WebhookIdentity } from '../core/optInGrant.ts';
import type { KubeClient } from '../server/kubeClient.ts';

/** Whether `webhook` may list Secrets in `namespace`; undefined when the question is refused. */
async function mayReadRecords(
  kube: KubeClient,
  namespace: string,
  webhook: WebhookIdentity,
): Promise<boolean | undefined> {
  try {
    const review = await kube.create<{ status?: { allowed?: boolean } }>(
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${webhook.namespace}:${webhook.serviceAccount}`,
          groups: [
            'system:serviceaccounts',
            `system:serviceaccounts:${webhook.namespace}`,
            'system:authenticated',
          ],
          resourceAttributes: { namespace, verb: 'list', resource: 'secrets' },
        },
      },
    );
    return review.status?.allowed === true;
  } catch {
    return undefined;
  }
}

interface NamespaceObject {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

interface Pod {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { nodeName?: string };
  status?: { hostIP?: string };
}

export async function explainNamespace(
  location: KubeConfigLocation,
  namespace: string | undefined,
  defaults: RawConfig,
  webhookNamespace: string,
): Promise<LiveExplanation> {
  const kube = await connectKube(location);
  const ns = namespace ?? (kube.defaultNamespace || 'default');
  const at = `/namespaces/${encodeURIComponent(ns)}`;
  const webhook = { ...DEFAULT_WEBHOOK_IDENTITY, namespace: webhookNamespace };
  const [nsObject, statefulSets, services, configMaps, pods, granted] = await Promise.all([
    kube.get<NamespaceObject>(`/api/v1${at}`),
    kube.list<object>(`/apis/apps/v1${at}/statefulsets`),
    kube.list<object>(`/api/v1${at}/services`),
    kube.list<object>(`/api/v1${at}/configmaps`),
    kube.list<Pod>(`/api/v1${at}/pods`),
    mayReadRecords(kube, ns, webhook),
  ]);
  // The lists carry no kind per item; the core recognises objects by kind.
  const withKind = (list: object[], kind: string): unknown[] => list.map((item) => ({ ...item, kind }));
  const livePods: LivePod[] = pods.map((p) => ({
    name: p.metadata?.name ?? '',
    labels: p.metadata?.labels ?? {},
    ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
    ...(p.status?.hostIP ? { hostIP: p.status.hostIP } : {}),
  }));
  return explainLive(
    {
      namespace: {
        name: ns,
        labels: nsObject.metadata?.labels ?? {},
        annotations: nsObject.metadata?.annotations ?? {},
      },
      objects: [
        ...withKind(statefulSets, 'StatefulSet'),
        ...withKind(services, 'Service'),
        ...withKind(configMaps, 'ConfigMap'),
      ],
      pods: livePods,
      protectedNamespaces: [...SYSTEM_NAMESPACES, webhookNamespace],
      grant: { granted, webhook },
    },
    defaults,
  );
}
