/**
 * What a client Service's decision needs to know about the broker StatefulSets it selects: the
 * port their exposed listener binds, or that they are not exposed at all. The CLI finds them in
 * its input, the webhook in the cluster; both ask here.
 */
import type { ServiceTarget } from './clientService.ts';
import { isRecord, type StatefulSet } from './kubeTypes.ts';
import type { MutationResult, Reason } from './result.ts';

export interface BrokerContext {
  serviceTarget?: ServiceTarget;
  brokersNotExposed?: { reason: Reason; message: string };
}

export interface BrokerDecision {
  sts: StatefulSet;
  result: MutationResult;
}

function selects(selector: Record<string, unknown>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * The chart's own per-broker NodePort Services (bitnami `externalAccess` NodePort, cp-kafka
 * `nodeport.enabled`): each selects one broker pod and holds a fixed nodePort. Charts create them
 * before their client Service, so they show the brokers' own exposure when the StatefulSets are not
 * there yet (a Helm install creates Services first).
 */
function perBrokerNodePorts(selector: Record<string, unknown>, services: unknown[]): boolean {
  return services.some((other) => {
    if (!isRecord(other) || other.kind !== 'Service' || !isRecord(other.spec)) return false;
    const { selector: own, type, ports } = other.spec;
    if (!isRecord(own) || typeof own[POD_NAME_LABEL] !== 'string' || type !== 'NodePort') return false;
    const rest = Object.fromEntries(Object.entries(own).filter(([k]) => k !== POD_NAME_LABEL));
    const fixedPort =
      Array.isArray(ports) && ports.some((p) => isRecord(p) && typeof p.nodePort === 'number');
    return fixedPort && Object.entries(selector).every(([k, v]) => rest[k] === v);
  });
}

const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';

export function brokerContextFor(
  service: unknown,
  brokers: BrokerDecision[],
  services: unknown[] = [],
): BrokerContext {
  if (!isRecord(service) || service.kind !== 'Service' || !isRecord(service.spec)) return {};
  const selector = service.spec.selector;
  if (!isRecord(selector)) return {};
  const selected = brokers.filter(
    ({ sts, result }) =>
      result.decision !== 'skipped' && selects(selector, sts.spec.template.metadata?.labels ?? {}),
  );
  const exposed = selected.filter(({ result }) => result.exposure);
  const unexposed = selected.find(({ result }) => !result.exposure);
  // A Service is only opened for exposed brokers: otherwise clients would reach a NodePort behind
  // which every broker still advertises in-cluster names (or the chart's own per-broker ports).
  if (unexposed && exposed.length === 0) {
    return { brokersNotExposed: { reason: unexposed.result.reason, message: unexposed.result.message } };
  }
  for (const { sts, result } of exposed) {
    if (!result.exposure) continue;
    const portNames: Record<string, number> = {};
    for (const c of sts.spec.template.spec.containers) {
      for (const p of c.ports ?? []) if (p.name) portNames[p.name] = p.containerPort;
    }
    const { listener, containerPort } = result.exposure;
    return { serviceTarget: { listener, containerPort, portNames } };
  }
  if (selected.length === 0 && perBrokerNodePorts(selector, services)) {
    const message = "the chart's own per-broker NodePort Services expose each broker";
    return { brokersNotExposed: { reason: 'already-exposed', message } };
  }
  return {};
}
