/**
 * Image-env family (the official apache/kafka image, Confluent's cp-kafka image, and charts on
 * them): `KAFKA_ADVERTISED_LISTENERS`, `KAFKA_LISTENERS`, `KAFKA_LISTENER_SECURITY_PROTOCOL_MAP` in
 * the broker container's env, which the image's entrypoint turns into `advertised.listeners`, …
 * (`KAFKA_FOO_BAR` → `foo.bar`). Asked last: a chart's own script or init step may set the same
 * env, and then that script is what the broker runs.
 */
import type { PodSpec } from '../kubeTypes.ts';
import { advertisesThroughEnv, exposeThroughEnv } from './envExposure.ts';
import type { Wiring, WiringInput, WiringOutcome } from './wiring.ts';

export const imageEnvWiring: Wiring = {
  family: 'image-env',

  brokerIndex(spec: PodSpec): number {
    return spec.containers.findIndex((c) => advertisesThroughEnv(c));
  },

  apply(input: WiringInput): WiringOutcome {
    return exposeThroughEnv(input, 'image-env');
  },
};
