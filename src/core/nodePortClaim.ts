/**
 * A node port opens on every node of the cluster, so one release at most may claim it. The API
 * server refuses a second Service on a taken port, but only that Service: Helm goes on to create
 * the StatefulSet, whose brokers would then advertise a port that leads to another release's
 * brokers. So a claim is checked against the cluster's Services for every object that claims it.
 *
 * The release's own Service may hold the port too, yet route it elsewhere: applied without Helm
 * before its StatefulSet, it was decided without its brokers in view (the chart's client port),
 * while the brokers expose another listener. Exposing them then would be half a mutation.
 */
import { ANNOTATION_PREFIX } from './config.ts';
import { isRecord, selectsLabels, type KubeObject, type StatefulSet } from './kubeTypes.ts';
import type { MutationResult, Reason } from './result.ts';

/** Why an object may not claim its node port, when it may not. */
export interface ClaimRefusal {
  reason: Extract<Reason, 'node-port-taken' | 'node-port-misrouted'>;
  message: string;
}

interface Holder {
  service: Record<string, unknown> & { spec: Record<string, unknown> };
  name: string;
  own: boolean;
}

function podLabelsOf(object: Record<string, unknown>): Record<string, unknown> | undefined {
  return object.kind === 'StatefulSet' && isRecord(object.spec) && isRecord(object.spec.template)
    ? ((object.spec.template as KubeObject).metadata?.labels ?? {})
    : undefined;
}

/**
 * What a claim reads of a Service that holds node ports — namespace, name, selector and each
 * port's nodePort, port and targetPort — or undefined for a Service that holds none. The server's
 * cluster-wide Service cache keeps only this, so a large cluster's Services cost little memory.
 */
export interface NodePortHolder extends KubeObject {
  spec: {
    selector?: Record<string, unknown>;
    ports: { nodePort: number; port: unknown; targetPort?: unknown }[];
  };
}

export function nodePortHolder(service: unknown): NodePortHolder | undefined {
  if (!isRecord(service) || !isRecord(service.spec) || !Array.isArray(service.spec.ports)) return undefined;
  const ports = service.spec.ports
    .filter(
      (p): p is Record<string, unknown> & { nodePort: number } =>
        isRecord(p) && typeof p.nodePort === 'number',
    )
    .map(({ nodePort, port, targetPort }) => ({
      nodePort,
      port,
      ...(targetPort === undefined ? {} : { targetPort }),
    }));
  if (ports.length === 0) return undefined;
  const meta = (service as KubeObject).metadata;
  const { selector } = service.spec;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: meta?.namespace ?? '', name: meta?.name ?? '' },
    spec: { ...(isRecord(selector) ? { selector } : {}), ports },
  };
}

/** Every Service that holds `nodePort`, and whether it is this object's own. */
function holders(
  object: Record<string, unknown>,
  namespace: string,
  nodePort: number,
  services: unknown[],
): Holder[] {
  const meta = (object as KubeObject).metadata;
  const podLabels = podLabelsOf(object);
  const found: Holder[] = [];
  for (const service of services) {
    if (!isRecord(service) || !isRecord(service.spec) || !Array.isArray(service.spec.ports)) continue;
    if (!service.spec.ports.some((p) => isRecord(p) && p.nodePort === nodePort)) continue;
    const held = (service as KubeObject).metadata;
    const sameNamespace = (held?.namespace ?? '') === namespace;
    const own =
      sameNamespace &&
      (podLabels === undefined
        ? held?.name === meta?.name
        : isRecord(service.spec.selector) && selectsLabels(service.spec.selector, podLabels));
    found.push({
      service: service as Holder['service'],
      name: `${held?.namespace ?? ''}/${held?.name ?? ''}`,
      own,
    });
  }
  return found;
}

/** `namespace/name` of a Service that holds `nodePort` and is not this object's own, if any. */
export function foreignHolder(
  object: unknown,
  namespace: string,
  nodePort: number,
  services: unknown[],
): string | undefined {
  if (!isRecord(object)) return undefined;
  return holders(object, namespace, nodePort, services).find((h) => !h.own)?.name;
}

export function nodePortTakenMessage(nodePort: number, holder: string): string {
  return `node port ${String(nodePort)} is held by Service ${holder}: choose another with the annotation ${ANNOTATION_PREFIX}node-port on the namespace or the object`;
}

/** The container port a Service port reaches on these brokers, when it can be told. */
export function routedPort(port: Record<string, unknown>, sts: StatefulSet): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  if (typeof target !== 'string') return undefined;
  for (const container of sts.spec.template.spec.containers) {
    const named = (container.ports ?? []).find((p) => p.name === target);
    if (named) return named.containerPort;
  }
  return undefined;
}

/**
 * Whether an object that `result` says claims a node port may do so: refused when another
 * release holds the port, or when the StatefulSet's own Service routes it to another container
 * port than the one its exposed listener binds.
 */
export function claimRefusal(
  object: unknown,
  namespace: string,
  result: MutationResult,
  services: unknown[],
): ClaimRefusal | undefined {
  const { nodePort, exposure } = result;
  if (!isRecord(object) || nodePort === undefined) return undefined;
  const held = holders(object, namespace, nodePort, services);
  const foreign = held.find((h) => !h.own);
  if (foreign) return { reason: 'node-port-taken', message: nodePortTakenMessage(nodePort, foreign.name) };
  if (!exposure || object.kind !== 'StatefulSet') return undefined;
  for (const { service, name } of held) {
    const ports = Array.isArray(service.spec.ports) ? service.spec.ports : [];
    const port = ports.find((p): p is Record<string, unknown> => isRecord(p) && p.nodePort === nodePort);
    const routed = port && routedPort(port, object as unknown as StatefulSet);
    if (routed === undefined || routed === exposure.containerPort) continue;
    return {
      reason: 'node-port-misrouted',
      message:
        `Service ${name} routes node port ${String(nodePort)} to container port ${String(routed)}, but this ` +
        `StatefulSet's exposed listener ${exposure.listener} listens on ${String(exposure.containerPort)}: the ` +
        'Service was created before its StatefulSet without a Helm release to decide it from (kubectl apply, ' +
        `Argo CD). State the port up front: annotate the namespace ${ANNOTATION_PREFIX}listener-port=` +
        `${String(exposure.containerPort)}, delete the Service and apply again (or install with Helm)`,
    };
  }
  return undefined;
}
