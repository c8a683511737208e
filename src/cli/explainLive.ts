/**
 * `explain --kubeconfig FILE -n NAMESPACE`: fetches what the namespace holds and hands it to the
 * core's live explanation (src/core/liveExplanation.ts). Reads only: namespaces, StatefulSets,
 * Services, ConfigMaps and Pods of that namespace.
 */
import type { RawConfig } from '../core/config.ts';
import { explainLive, type LiveExplanation, type LivePod } from '../core/liveExplanation.ts';
import { loadKubeConfig, type KubeConfigLocation } from '../server/kubeConfig.ts';
import { SYSTEM_NAMESPACES } from '../server/admissionHandler.ts';

export async function explainNamespace(
  location: KubeConfigLocation,
  namespace: string | undefined,
  defaults: RawConfig,
  webhookNamespace: string,
): Promise<LiveExplanation> {
  const k8s = await import('@kubernetes/client-node');
  const config = await loadKubeConfig(location);
  const ns = namespace ?? (config.getContextObject(config.getCurrentContext())?.namespace || 'default');
  const core = config.makeApiClient(k8s.CoreV1Api);
  const apps = config.makeApiClient(k8s.AppsV1Api);
  const [nsObject, statefulSets, services, configMaps, pods] = await Promise.all([
    core.readNamespace({ name: ns }),
    apps.listNamespacedStatefulSet({ namespace: ns }),
    core.listNamespacedService({ namespace: ns }),
    core.listNamespacedConfigMap({ namespace: ns }),
    core.listNamespacedPod({ namespace: ns }),
  ]);
  // The lists carry no kind per item; the core recognises objects by kind.
  const withKind = (items: object[], kind: string): unknown[] => items.map((item) => ({ ...item, kind }));
  const livePods: LivePod[] = pods.items.map((p) => ({
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
        ...withKind(statefulSets.items, 'StatefulSet'),
        ...withKind(services.items, 'Service'),
        ...withKind(configMaps.items, 'ConfigMap'),
      ],
      pods: livePods,
      protectedNamespaces: [...SYSTEM_NAMESPACES, webhookNamespace],
    },
    defaults,
  );
}
