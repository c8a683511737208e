/**
 * Image-env family (the official apache/kafka image, Confluent's cp-kafka image, and charts on
 * them): `KAFKA_ADVERTISED_LISTENERS`, `KAFKA_LISTENERS`, `KAFKA_LISTENER_SECURITY_PROTOCOL_MAP` in
 * the broker container's env, which the image's entrypoint turns into `advertised.listeners`, …
 * (`KAFKA_FOO_BAR` → `foo.bar`). The kubelet expands `$(MY_HOST_IP)` in env values.
 *
 * A listener already facing the outside (or a CLIENT one) is rewritten to `$(MY_HOST_IP):<nodePort>`
 * and keeps its bind port. When only the inter-broker listener exists, an `EXTERNAL` listener is
 * added that binds the node port itself, with its protocol-map entry.
 */
import {
  appendListener,
  chooseListener,
  formatAddress,
  parseListeners,
  rewriteListener,
} from '../advertisedListeners.ts';
import { ensureHostIpEnv, HOST_IP_REFERENCE } from '../downwardEnv.ts';
import type { Container, PodSpec } from '../kubeTypes.ts';
import { pointer } from '../patchBuilder.ts';
import { envValue, literalEnvIndex } from '../recognizeKafka.ts';
import { bindPort } from './envWiring.ts';
import {
  ADDED_LISTENER,
  defaultInterBrokerListener,
  ensureProtocolMap,
  listenerProtocol,
  PROTOCOL_MAP_ENV,
} from './kafkaEnvConfig.ts';
import { TEMPLATE_SPEC, unsupported, type Wiring, type WiringInput, type WiringOutcome } from './wiring.ts';

export const IMAGE_ADVERTISED_ENV = 'KAFKA_ADVERTISED_LISTENERS';
const LISTENERS_ENV = 'KAFKA_LISTENERS';

/** `controller` alone in KAFKA_PROCESS_ROLES: a KRaft controller, which clients never reach. */
function isControllerOnly(container: Container): boolean {
  const roles = envValue(container, 'KAFKA_PROCESS_ROLES');
  if (roles === undefined) return false;
  const list = roles.split(',').map((r) => r.trim().toLowerCase());
  return list.includes('controller') && !list.includes('broker');
}

export const imageEnvWiring: Wiring = {
  family: 'image-env',

  brokerIndex(spec: PodSpec): number {
    return spec.containers.findIndex((c) => literalEnvIndex(c, IMAGE_ADVERTISED_ENV) >= 0);
  },

  apply({ builder, config, container, index }: WiringInput): WiringOutcome {
    if (isControllerOnly(container)) {
      return {
        exposed: false,
        reason: 'not-a-broker',
        message: 'KAFKA_PROCESS_ROLES=controller: a KRaft controller',
      };
    }
    const advertisedIndex = literalEnvIndex(container, IMAGE_ADVERTISED_ENV);
    const advertised = container.env?.[advertisedIndex]?.value ?? '';
    const listeners = parseListeners(advertised);
    const controllers = (envValue(container, 'KAFKA_CONTROLLER_LISTENER_NAMES') ?? '')
      .split(',')
      .map((n) => n.trim().toUpperCase());
    const candidates = listeners.filter((l) => !controllers.includes(l.name.toUpperCase()));
    const interBroker =
      envValue(container, 'KAFKA_INTER_BROKER_LISTENER_NAME') ?? defaultInterBrokerListener(listeners);
    const found = `env ${IMAGE_ADVERTISED_ENV}: ${listeners.map((l) => l.name).join(', ') || 'no listener'}`;
    const chosen = chooseListener(candidates, config.listener, interBroker);
    const containerPath = [...TEMPLATE_SPEC, 'containers', index];
    const address = formatAddress(HOST_IP_REFERENCE, config.nodePort);

    let name: string;
    let containerPort: number;
    if (chosen) {
      name = chosen.name;
      const bound =
        bindPort(envValue(container, LISTENERS_ENV), name) ??
        (/^\d+$/.test(chosen.port) ? Number(chosen.port) : undefined);
      if (bound === undefined) return unsupported(`${found}; cannot tell which port listener ${name} binds`);
      containerPort = bound;
      const rewritten = rewriteListener(advertised, name, address);
      if (rewritten !== advertised)
        builder.replace(pointer(...containerPath, 'env', advertisedIndex, 'value'), rewritten);
    } else {
      if (config.listener !== 'auto' && config.listener.toUpperCase() !== ADDED_LISTENER) {
        return unsupported(`${found}; no listener ${config.listener}`);
      }
      const listenersIndex = literalEnvIndex(container, LISTENERS_ENV);
      if (listenersIndex < 0) return unsupported(`${found}; no ${LISTENERS_ENV} to add ${ADDED_LISTENER} to`);
      // An outside listener must not be weaker than the ones the chart set up: only PLAINTEXT
      // brokers get a PLAINTEXT EXTERNAL listener.
      const secured = candidates.find((l) => listenerProtocol(container, l.name) !== 'PLAINTEXT');
      if (secured) {
        const protocol = listenerProtocol(container, secured.name) ?? 'of unknown protocol';
        return unsupported(
          `${found}; listener ${secured.name} is ${protocol}, and only a PLAINTEXT ${ADDED_LISTENER} listener can be added`,
        );
      }
      name = ADDED_LISTENER;
      containerPort = config.nodePort;
      const bindList = container.env?.[listenersIndex]?.value ?? '';
      builder.replace(
        pointer(...containerPath, 'env', listenersIndex, 'value'),
        appendListener(bindList, name, `:${String(config.nodePort)}`),
      );
      builder.replace(
        pointer(...containerPath, 'env', advertisedIndex, 'value'),
        appendListener(advertised, name, address),
      );
      ensureProtocolMap(builder, containerPath, container, listeners, name);
    }
    const env = ensureHostIpEnv(builder, containerPath, container, advertisedIndex);
    if (!env.ok) return unsupported(env.message);
    // Changes name the state we guarantee, the same on a second pass over our own output (where
    // the added listener is found, bound on the node port), so the status annotation is stable.
    const added = name === ADDED_LISTENER && containerPort === config.nodePort;
    return {
      exposed: true,
      exposure: {
        family: 'image-env',
        listener: name,
        containerPort,
        advertised: `${name}://${address}`,
        hostReader: { container: 'broker', expandedEnv: IMAGE_ADVERTISED_ENV },
      },
      changes: [
        `env ${IMAGE_ADVERTISED_ENV}: ${name}`,
        ...(added ? [`env ${LISTENERS_ENV}: ${name}`, `env ${PROTOCOL_MAP_ENV}: ${name}`] : []),
        'env MY_HOST_IP',
      ],
    };
  },
};
