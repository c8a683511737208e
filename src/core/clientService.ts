/**
 * SPEC §3 client Service: the release's client Service becomes `type: NodePort`,
 * `externalTrafficPolicy: Local` (no second hop to another node, which makes Kafka clients drop),
 * with `nodePort` on the port that reaches the exposed listener's container port.
 */
import type { InjectorConfig } from './config.ts';
import type { Service, ServicePort } from './kubeTypes.ts';
import { pointer, PatchBuilder } from './patchBuilder.ts';
import { isZookeeper } from './recognizeKafka.ts';
import { exposedResult, outcome, type MutationResult } from './result.ts';
import type { BrokerContext } from './release.ts';
import { ensureStatusAnnotation } from './statusAnnotation.ts';

/** Where the exposed listener listens, when the broker StatefulSet is known. */
export interface ServiceTarget {
  listener: string;
  containerPort: number;
  /** The broker container's named ports, to resolve a named targetPort. */
  portNames: Record<string, number>;
}

const CLIENT_PORT_NAMES = ['tcp-client', 'client', 'kafka-client'];
const EXTERNAL_PORT_NAMES = ['tcp-external', 'external', 'kafka-external'];
const ADDED_PORT_NAME = 'external';

function looksLikeKafka(labels: Record<string, string>): boolean {
  return Object.entries(labels).some(
    ([key, value]) => /kafka/i.test(value) && !key.startsWith('helm.sh/') && key !== 'chart',
  );
}

/** Why a Service is not a release's client Service, or undefined when it is one. */
export function notClientService(service: Service): string | undefined {
  const selector = service.spec.selector;
  if (!selector || Object.keys(selector).length === 0) return 'it has no selector';
  if (service.spec.clusterIP === 'None') return 'it is headless';
  if (selector['statefulset.kubernetes.io/pod-name']) return 'it selects a single broker pod';
  if (/metrics|exporter|jmx/i.test(selector['app.kubernetes.io/component'] ?? '')) return 'it serves metrics';
  if (!(service.spec.ports ?? []).some((p) => !/metrics|jmx/i.test(p.name ?? '')))
    return 'it only serves metrics';
  return undefined;
}

/** The selector says which pods a Service reaches, so it alone decides whether they are Kafka. */
export function isKafkaService(service: Service): boolean {
  const selector = service.spec.selector ?? {};
  return looksLikeKafka(selector) && !isZookeeper(selector);
}

function targetsName(port: ServicePort, names: string[]): boolean {
  return (
    names.includes(port.name ?? '') ||
    (typeof port.targetPort === 'string' && names.includes(port.targetPort))
  );
}

/** Index of the port that reaches `target`, by number or by the container's port name. */
function portReaching(ports: ServicePort[], target: ServiceTarget | undefined): number {
  if (!target) return ports.findIndex((p) => targetsName(p, CLIENT_PORT_NAMES));
  return ports.findIndex((p) => {
    const t = p.targetPort ?? p.port;
    return (typeof t === 'number' ? t : target.portNames[t]) === target.containerPort;
  });
}

/**
 * The target `listener-port` states: by number only, so the answer is the same whether or not the
 * brokers (and the names of their ports) are in view when the Service is admitted.
 */
function statedTarget(config: InjectorConfig): ServiceTarget | undefined {
  const { listenerPort } = config;
  return listenerPort === undefined
    ? undefined
    : { listener: config.listener, containerPort: listenerPort, portNames: {} };
}

export function mutateClientService(
  service: Service,
  config: InjectorConfig,
  brokers?: BrokerContext,
): MutationResult {
  const why = notClientService(service);
  if (why) return outcome('unchanged', 'not-client-service', `not the client Service: ${why}`);
  if (brokers?.selectsNoBroker) {
    return outcome(
      'unchanged',
      'not-client-service',
      `not a broker client Service: ${brokers.selectsNoBroker}`,
    );
  }
  if (brokers?.brokersNotExposed) {
    const { reason, message } = brokers.brokersNotExposed;
    const why =
      reason === 'already-exposed' ? 'its brokers are left to the chart' : 'its brokers are not exposed';
    return outcome('unchanged', reason, `${why}: ${message}`);
  }
  const target = statedTarget(config) ?? brokers?.serviceTarget;
  const ports = service.spec.ports ?? [];
  // Without the brokers in view (a Helm install creates the Service first), an external port is
  // the sign of the chart's own per-broker exposure.
  if (!target && ports.some((p) => targetsName(p, EXTERNAL_PORT_NAMES))) {
    return outcome('unchanged', 'already-exposed', "the chart's own externalAccess exposes each broker");
  }

  const builder = new PatchBuilder(service);
  if (service.spec.type !== 'NodePort' && service.spec.type !== 'LoadBalancer') {
    builder.add('/spec/type', 'NodePort');
  }
  if (service.spec.externalTrafficPolicy !== 'Local') builder.add('/spec/externalTrafficPolicy', 'Local');

  let index = portReaching(ports, target);
  let containerPort: number | string | undefined;
  if (index >= 0) {
    const port = ports[index];
    containerPort = port?.targetPort ?? port?.port;
    if (port?.nodePort !== config.nodePort)
      builder.add(pointer('spec', 'ports', index, 'nodePort'), config.nodePort);
  } else {
    // No port reaches the listener: Confluent images listen on the advertised port itself.
    containerPort = target?.containerPort ?? config.nodePort;
    const taken = new Set(ports.map((p) => p.name));
    const added: ServicePort = {
      name: taken.has(ADDED_PORT_NAME) ? 'kafka-nodeport' : ADDED_PORT_NAME,
      port: config.nodePort,
      protocol: 'TCP',
      targetPort: containerPort,
      nodePort: config.nodePort,
    };
    if (service.spec.ports) builder.add(pointer('spec', 'ports', '-'), added);
    else builder.add('/spec/ports', [added]);
    index = ports.length;
  }

  const changes = [
    'type NodePort',
    'externalTrafficPolicy Local',
    `nodePort ${String(config.nodePort)} -> ${String(containerPort)}`,
  ];
  // The configured listener, not the one found: a Helm install admits the Service before its
  // StatefulSet, and the record must not change once the StatefulSet is known (no-op upgrades).
  ensureStatusAnnotation(builder, service, {
    nodePort: config.nodePort,
    listener: config.listener,
    addressType: config.addressType,
    advertisedHosts: config.advertisedHosts,
    changes,
  });
  return exposedResult(
    builder.operations,
    changes,
    `Service port ${String(index)} opens nodePort ${String(config.nodePort)}`,
    config.nodePort,
  );
}
