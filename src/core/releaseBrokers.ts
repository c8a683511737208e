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

export function brokerContextFor(service: unknown, brokers: BrokerDecision[]): BrokerContext {
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
  return {};
}
