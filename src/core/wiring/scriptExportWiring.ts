/**
 * Script-export variant of the env family (bitnami/kafka 12–22 with `externalAccess` on): the
 * chart's setup script builds and exports `KAFKA_CFG_ADVERTISED_LISTENERS` itself, after any env
 * we could set, with one external address per broker: the chart's own exposure, left alone. When
 * the user names another listener (CLIENT, say) we wrap the container command: the script runs
 * unchanged, and its final `exec` of Kafka goes through a shell function that rewrites that
 * listener first.
 */
import type { PodSpec } from '../kubeTypes.ts';
import { downwardEnvNames } from '../recognizeKafka.ts';
import { ADVERTISED_ENV } from './envWiring.ts';
import { bindPort, readKafkaEnv, settingName } from './kafkaEnvConfig.ts';
import { HOST_FROM_NODE_IP, INJECTED_MARKER } from './shellSnippets.ts';
import { originalCommand, wrapCommand } from './commandWrapper.ts';
import { unsupported, type Wiring, type WiringInput, type WiringOutcome } from './wiring.ts';

const SHELL = '/bin/bash';

/**
 * bash (not in POSIX mode) looks functions up before builtins, so the script's
 * `exec /entrypoint.sh /run.sh` calls this function, which then runs the real `exec`.
 */
export function wrapperScript(listener: string, nodePort: number): string {
  return `${INJECTED_MARKER}
exec() {
  unset -f exec
  ${HOST_FROM_NODE_IP.replaceAll('\n', '\n  ')}
  ${ADVERTISED_ENV}=$(printf '%s' "$${ADVERTISED_ENV}" | sed -E "s#(^|,)${listener}://[^,]*#\\1${listener}://$host:${String(nodePort)}#")
  export ${ADVERTISED_ENV}
  builtin exec "$@"
}
. "$0" "$@"
`;
}

export const scriptExportWiring: Wiring = {
  family: 'script-export',

  brokerIndex(spec: PodSpec): number {
    return spec.containers.findIndex((c) => {
      const env = readKafkaEnv(c);
      // Any advertised listeners in env win over the script's export (bitnami's entrypoint copies
      // the legacy name over it): that is the env family's.
      return (
        env.dialect === 'bitnami' &&
        env.value('LISTENERS') !== undefined &&
        env.source('ADVERTISED_LISTENERS') === undefined &&
        (originalCommand(c, SHELL)[0] ?? '').endsWith('.sh')
      );
    });
  },

  apply(input: WiringInput): WiringOutcome {
    const { config, container } = input;
    if (originalCommand(container, SHELL).length === 0) return unsupported('no setup script command');
    // The chart's NodePort externalAccess advertises HOST_IP with one nodePort per broker.
    if (downwardEnvNames(container, 'status.hostIP').some((n) => n !== 'MY_HOST_IP')) {
      return {
        exposed: false,
        reason: 'already-exposed',
        message: "the chart's own externalAccess exposes each broker",
      };
    }
    // Every externalAccess form (LoadBalancer IPs, NodePorts, a ClusterIP domain with one port per
    // broker) has the script export one address per broker: the chart exposes its brokers itself.
    // Only a listener the user names is ours to rewrite.
    if (config.listener === 'auto' || config.listener === 'EXTERNAL') {
      return {
        exposed: false,
        reason: 'already-exposed',
        message:
          "the chart's setup script exports a per-broker EXTERNAL listener (externalAccess): each broker is reached at its own address",
      };
    }
    const { listener } = config;
    const env = readKafkaEnv(container);
    const containerPort = bindPort(env.value('LISTENERS'), listener);
    if (containerPort === undefined) {
      return unsupported(`listener ${listener} is not in ${settingName(env, 'LISTENERS')}`);
    }

    return wrapCommand(
      input,
      SHELL,
      wrapperScript(listener, config.nodePort),
      { family: 'script-export', listener, containerPort },
      `command wrapped: ${ADVERTISED_ENV} ${listener}`,
    );
  },
};
