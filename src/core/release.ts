/**
 * Release-level decisions: a client Service's answer depends on the broker StatefulSets it
 * selects (the port their exposed listener binds, or that they are not exposed at all). `mutate`
 * has the whole release in its input; the webhook reads it from Helm's release record, which Helm
 * writes before it creates any object, or else from the cluster. Both decide here, the same way.
 */
import type { ServiceTarget } from './clientService.ts';
import type { RawConfig } from './config.ts';
import { configMapsOf } from './configMaps.ts';
import { isRecord, selectsLabels, type StatefulSet } from './kubeTypes.ts';
import { mutateObject } from './mutateObject.ts';
import type { MutationResult, Reason } from './result.ts';

export interface BrokerContext {
  serviceTarget?: ServiceTarget;
  brokersNotExposed?: { reason: Reason; message: string };
  /** The whole release is known and this Service selects none of its brokers (a UI, Connect…). */
  selectsNoBroker?: string;
}

/** The objects of one release as the core sees them. */
export interface ReleaseView {
  /** A rendered manifest (Helm's release record, `mutate`'s input) or what the cluster holds. */
  objects: unknown[];
  /**
   * True when `objects` is the whole release: a Service that selects none of its StatefulSets is
   * then known not to be a broker client Service. False for a partial view (the cluster while a
   * `kubectl apply` is still creating objects).
   */
  complete: boolean;
}

export interface ReleaseOptions {
  defaults: RawConfig;
  namespaceAnnotations: Record<string, string>;
}

export interface BrokerDecision {
  sts: StatefulSet;
  result: MutationResult;
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
    return fixedPort && selectsLabels(selector, rest);
  });
}

const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';

function isKind(object: unknown, kind: string): boolean {
  return isRecord(object) && object.kind === kind;
}

function brokerDecisions(objects: unknown[], options: ReleaseOptions): BrokerDecision[] {
  const configMaps = configMapsOf(objects);
  return objects
    .filter((object) => isKind(object, 'StatefulSet'))
    .map((sts) => ({
      sts: sts as StatefulSet,
      result: mutateObject({ object: sts, ...options, configMaps }),
    }));
}

/** What a Service of this release needs to know about its brokers. */
export function serviceContext(
  service: unknown,
  release: ReleaseView,
  options: ReleaseOptions,
): BrokerContext {
  const services = release.objects.filter((object) => isKind(object, 'Service'));
  return brokerContextFor(service, brokerDecisions(release.objects, options), services, release.complete);
}

/**
 * Every object of a release, decided as if admitted together: StatefulSets on their own, Services
 * with the brokers they select. The webhook reaches the same answers one object at a time.
 *
 * `complete` defaults to "the objects include a StatefulSet": a rendered release (a post-renderer's
 * input) has its brokers in it, while a file of Services alone says nothing of the brokers that
 * will arrive later, and its Services are decided as the webhook decides them without a release.
 */
export function mutateRelease(
  objects: unknown[],
  options: ReleaseOptions,
  complete = objects.some((object) => isKind(object, 'StatefulSet')),
): MutationResult[] {
  const brokers = brokerDecisions(objects, options);
  const services = objects.filter((object) => isKind(object, 'Service'));
  let next = 0;
  return objects.map((object) => {
    if (isKind(object, 'StatefulSet')) {
      const broker = brokers[next++];
      if (broker) return broker.result;
    }
    const context = isKind(object, 'Service') ? brokerContextFor(object, brokers, services, complete) : {};
    return mutateObject({ object, ...options, ...context });
  });
}

export function brokerContextFor(
  service: unknown,
  brokers: BrokerDecision[],
  services: unknown[] = [],
  complete = false,
): BrokerContext {
  if (!isRecord(service) || service.kind !== 'Service' || !isRecord(service.spec)) return {};
  const selector = service.spec.selector;
  if (!isRecord(selector)) return {};
  const selected = brokers.filter(
    ({ sts, result }) =>
      result.decision !== 'skipped' && selectsLabels(selector, sts.spec.template.metadata?.labels ?? {}),
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
  if (selected.length === 0 && complete) {
    const kafka = brokers.filter(({ result }) => result.decision !== 'skipped').length;
    return { selectsNoBroker: `it selects none of the release's ${String(kafka)} Kafka StatefulSet(s)` };
  }
  return {};
}
