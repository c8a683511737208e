/**
 * Release-level decisions: a client Service's answer depends on the broker StatefulSets it
 * selects (the port their exposed listener binds, or that they are not exposed at all). `mutate`
 * has the whole release in its input; the webhook reads it from Helm's release record, which Helm
 * writes before it creates any object, or else from the cluster. Both decide here, the same way.
 */
import type { ServiceTarget } from './clientService.ts';
import type { RawConfig } from './config.ts';
import { configMapsOf } from './configMaps.ts';
import { isRecord, selectsLabels, stringOr, type KubeObject, type StatefulSet } from './kubeTypes.ts';
import { mutateObject } from './mutateObject.ts';
import { routedPort } from './nodePortClaim.ts';
import { outcome, type MutationResult, type Reason } from './result.ts';

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

const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';

export interface BrokerDecision {
  sts: StatefulSet;
  result: MutationResult;
}

/**
 * The chart's own per-broker Services (bitnami `externalAccess`, cp-kafka `nodeport.enabled`, a
 * vendor's `perBrokerService`): each selects one broker pod (`statefulset.kubernetes.io/pod-name`)
 * and opens it outside the cluster, as a NodePort Service on a fixed nodePort or a LoadBalancer.
 *
 * `selects(rest)` says whether the Service's selector, without the pod name, reaches the pods in
 * question (the StatefulSet's pod labels, or the pods a client Service selects); `routes(port)`,
 * when the brokers are known, whether one of its ports reaches the listener they would expose.
 */
export function perBrokerServices(
  services: unknown[],
  selects: (rest: Record<string, unknown>) => boolean,
  routes: (port: Record<string, unknown>) => boolean = () => true,
): string[] {
  const names: string[] = [];
  for (const other of services) {
    if (!isRecord(other) || other.kind !== 'Service' || !isRecord(other.spec)) continue;
    const { selector: own, type, ports } = other.spec;
    if (!isRecord(own) || typeof own[POD_NAME_LABEL] !== 'string' || !Array.isArray(ports)) continue;
    const fixedPort = ports.some((p) => isRecord(p) && typeof p.nodePort === 'number');
    if (!(type === 'LoadBalancer' || (type === 'NodePort' && fixedPort))) continue;
    const rest = Object.fromEntries(Object.entries(own).filter(([k]) => k !== POD_NAME_LABEL));
    if (Object.keys(rest).length === 0 || !selects(rest)) continue;
    if (ports.some((p) => isRecord(p) && routes(p)))
      names.push(stringOr((other as KubeObject).metadata?.name, '?'));
  }
  return names;
}

function chartExposureMessage(names: string[]): string {
  const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ', …' : '');
  return `the chart's own per-broker Services (${shown}) expose each broker`;
}

/**
 * A broker StatefulSet's decision in view of its release: its own, unless the chart's per-broker
 * Services already route outside clients to the very listener it would expose (exposing it again
 * would put one NodePort beside the chart's own per-broker addresses). Per-broker Services that
 * reach another port (incubator/kafka's `external.enabled` without an external listener: nothing
 * listens there) expose nothing, and the brokers are exposed as usual. The webhook asks this for
 * a StatefulSet it would expose, with the release's objects; `mutate` for each of its input.
 */
export function decideBrokers(sts: StatefulSet, own: MutationResult, services: unknown[]): MutationResult {
  const { exposure } = own;
  if (exposure === undefined) return own;
  const podLabels = sts.spec.template.metadata?.labels ?? {};
  const chartOwn = perBrokerServices(
    services,
    (rest) => selectsLabels(rest, podLabels),
    (port) => routedPort(port, sts) === exposure.containerPort,
  );
  return chartOwn.length === 0
    ? own
    : outcome('unchanged', 'already-exposed', chartExposureMessage(chartOwn));
}

function isKind(object: unknown, kind: string): boolean {
  return isRecord(object) && object.kind === kind;
}

/** The Services among a release's objects. */
export function servicesOf(objects: unknown[]): unknown[] {
  return objects.filter((object) => isKind(object, 'Service'));
}

function brokerDecisions(objects: unknown[], options: ReleaseOptions): BrokerDecision[] {
  const configMaps = configMapsOf(objects);
  const services = servicesOf(objects);
  return objects
    .filter((object) => isKind(object, 'StatefulSet'))
    .map((object) => {
      const sts = object as StatefulSet;
      const own = mutateObject({ object, ...options, configMaps });
      return { sts, result: decideBrokers(sts, own, services) };
    });
}

/** What a Service of this release needs to know about its brokers. */
export function serviceContext(
  service: unknown,
  release: ReleaseView,
  options: ReleaseOptions,
): BrokerContext {
  const services = servicesOf(release.objects);
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
  const services = servicesOf(objects);
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
  // Without the brokers in view (the cluster while Services are created first), the chart's
  // per-broker Services for the pods this Service selects speak for them.
  const chartOwn =
    selected.length === 0 ? perBrokerServices(services, (rest) => selectsLabels(selector, rest)) : [];
  if (chartOwn.length > 0) {
    return { brokersNotExposed: { reason: 'already-exposed', message: chartExposureMessage(chartOwn) } };
  }
  if (selected.length === 0 && complete) {
    const kafka = brokers.filter(({ result }) => result.decision !== 'skipped').length;
    return { selectsNoBroker: `it selects none of the release's ${String(kafka)} Kafka StatefulSet(s)` };
  }
  return {};
}
