/**
 * Env family (bitnami/kafka 12–22, and other charts on bitnami's image): the listener settings in
 * the broker container's env, `KAFKA_CFG_*` or the legacy `KAFKA_*` names bitnami's entrypoint
 * copies over them, which it turns into `server.properties` (see kafkaEnvConfig.ts).
 */
import type { PodSpec } from '../kubeTypes.ts';
import { advertisesThroughEnv, exposeThroughEnv } from './envExposure.ts';
import type { Wiring, WiringInput, WiringOutcome } from './wiring.ts';

export const ADVERTISED_ENV = 'KAFKA_CFG_ADVERTISED_LISTENERS';

export const envWiring: Wiring = {
  family: 'env',

  brokerIndex(spec: PodSpec): number {
    return spec.containers.findIndex((c) => advertisesThroughEnv(c, 'bitnami'));
  },

  apply(input: WiringInput): WiringOutcome {
    return exposeThroughEnv(input, 'env');
  },
};
