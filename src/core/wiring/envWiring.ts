/**
 * Env family (bitnami/kafka 12–22): `KAFKA_CFG_ADVERTISED_LISTENERS` in the broker container's
 * env, which the image turns into `advertised.listeners`.
 */
import {
  chooseListener,
  findListener,
  formatAddress,
  parseListeners,
  rewriteParsedListener,
} from '../advertisedListeners.ts';
import { ensureHostIpEnv, HOST_IP_REFERENCE } from '../downwardEnv.ts';
import type { Container, PodSpec } from '../kubeTypes.ts';
import { pointer } from '../patchBuilder.ts';
import { envValue, literalEnvIndex } from '../recognizeKafka.ts';
import { TEMPLATE_SPEC, unsupported, type Wiring, type WiringInput, type WiringOutcome } from './wiring.ts';

export const ADVERTISED_ENV = 'KAFKA_CFG_ADVERTISED_LISTENERS';

/** bitnami reads the inter-broker listener from either spelling. */
export function interBrokerListenerFromEnv(container: Container): string | undefined {
  return (
    envValue(container, 'KAFKA_CFG_INTER_BROKER_LISTENER_NAME') ??
    envValue(container, 'KAFKA_INTER_BROKER_LISTENER_NAME')
  );
}

/** The port a listener binds, from a `listeners` list such as `CLIENT://:9092`. */
export function bindPort(listenersList: string | undefined, name: string): number | undefined {
  const port = listenersList === undefined ? undefined : findListener(listenersList, name)?.port;
  return port !== undefined && /^\d+$/.test(port) ? Number(port) : undefined;
}

function advertisedEnvIndex(container: Container): number {
  return literalEnvIndex(container, ADVERTISED_ENV);
}

export const envWiring: Wiring = {
  family: 'env',

  brokerIndex(spec: PodSpec): number {
    return spec.containers.findIndex((c) => advertisedEnvIndex(c) >= 0);
  },

  apply({ builder, config, container, index }: WiringInput): WiringOutcome {
    const envIndex = advertisedEnvIndex(container);
    const value = container.env?.[envIndex]?.value ?? '';

    const listener = chooseListener(
      parseListeners(value),
      config.listener,
      interBrokerListenerFromEnv(container),
    );
    if (!listener) {
      return unsupported(`no listener to expose in ${ADVERTISED_ENV} (listener=${config.listener})`);
    }
    const containerPort =
      bindPort(envValue(container, 'KAFKA_CFG_LISTENERS'), listener.name) ??
      (/^\d+$/.test(listener.port) ? Number(listener.port) : undefined);
    if (containerPort === undefined) {
      return unsupported(`cannot tell which container port listener ${listener.name} binds`);
    }

    const address = formatAddress(HOST_IP_REFERENCE, config.nodePort);
    const containerPath = [...TEMPLATE_SPEC, 'containers', index];
    const rewritten = rewriteParsedListener(value, listener, address);
    if (rewritten !== value) builder.replace(pointer(...containerPath, 'env', envIndex, 'value'), rewritten);
    const env = ensureHostIpEnv(builder, containerPath, container, envIndex);
    if (!env.ok) return unsupported(env.message);

    return {
      exposed: true,
      exposure: {
        family: 'env',
        listener: listener.name,
        containerPort,
        advertised: `${listener.name}://${address}`,
        hostReader: { container: 'broker', expandedEnv: ADVERTISED_ENV },
      },
      changes: [`env ${ADVERTISED_ENV}: ${listener.name}`, 'env MY_HOST_IP'],
    };
  },
};
