/**
 * A node port opens on every node of the cluster, so one release at most may claim it. The API
 * server refuses a second Service on a taken port, but only that Service: Helm goes on to create
 * the StatefulSet, whose brokers would then advertise a port that leads to another release's
 * brokers. So a claim is checked against the cluster's Services for every object that claims it.
 */
import { ANNOTATION_PREFIX } from './config.ts';
import { isRecord, selectsLabels, type KubeObject } from './kubeTypes.ts';

/** `namespace/name` of a Service that holds `nodePort` and is not this object's own, if any. */
export function foreignHolder(
  object: unknown,
  namespace: string,
  nodePort: number,
  services: unknown[],
): string | undefined {
  if (!isRecord(object)) return undefined;
  const meta = (object as KubeObject).metadata;
  const podLabels =
    object.kind === 'StatefulSet' && isRecord(object.spec) && isRecord(object.spec.template)
      ? ((object.spec.template as KubeObject).metadata?.labels ?? {})
      : undefined;
  for (const service of services) {
    if (!isRecord(service) || !isRecord(service.spec) || !Array.isArray(service.spec.ports)) continue;
    const holds = service.spec.ports.some((p) => isRecord(p) && p.nodePort === nodePort);
    if (!holds) continue;
    const held = (service as KubeObject).metadata;
    const sameNamespace = (held?.namespace ?? '') === namespace;
    const own =
      sameNamespace &&
      (podLabels === undefined
        ? held?.name === meta?.name
        : isRecord(service.spec.selector) && selectsLabels(service.spec.selector, podLabels));
    if (!own) return `${held?.namespace ?? ''}/${held?.name ?? ''}`;
  }
  return undefined;
}

export function nodePortTakenMessage(nodePort: number, holder: string): string {
  return `node port ${String(nodePort)} is held by Service ${holder}: choose another with the annotation ${ANNOTATION_PREFIX}node-port on the namespace or the object`;
}
