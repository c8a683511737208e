/**
 * One module per way a chart hands advertised listeners to Kafka (SPEC §4). Each family knows how
 * to find its wiring in a pod spec and how to point the exposed listener at
 * `$(MY_HOST_IP):<node-port>`. All of them must be idempotent: applied to their own output they
 * record no operation.
 */
import type { HostReader } from '../advertisedHost.ts';
import type { InjectorConfig } from '../config.ts';
import type { ConfigMaps } from '../configMaps.ts';
import type { Container, PodSpec, StatefulSet } from '../kubeTypes.ts';
import type { PatchBuilder } from '../patchBuilder.ts';

export type WiringFamily =
  | 'env'
  | 'script-export'
  | 'init-rendered-file'
  | 'command'
  | 'image-env'
  | 'start-script-render'
  | 'mounted-config';

/** What the exposed listener looks like once the pod starts. */
export interface Exposure {
  family: WiringFamily;
  /** Listener name, e.g. CLIENT. */
  listener: string;
  /** The container port the NodePort must reach (the listener's bind port). */
  containerPort: number;
  /** Advertised entry as written into the object, e.g. `CLIENT://$(MY_HOST_IP):31980`. */
  advertised: string;
  /** Which container reads the advertised host at start (for address types other than hostIP). */
  hostReader: HostReader;
}

export type WiringOutcome =
  | { exposed: true; exposure: Exposure; changes: string[] }
  | { exposed: false; reason: 'unsupported-wiring' | 'already-exposed' | 'not-a-broker'; message: string };

export interface WiringInput {
  sts: StatefulSet;
  builder: PatchBuilder<StatefulSet>;
  config: InjectorConfig;
  /** The broker container, found by `brokerIndex`, and its index in `containers`. */
  container: Container;
  index: number;
  /** The release's ConfigMaps: what scripts and files the pods mount. */
  configMaps: ConfigMaps;
}

export interface Wiring {
  family: WiringFamily;
  /** Index of the container that carries this family's wiring, or -1 when it is absent. */
  brokerIndex(spec: PodSpec, configMaps: ConfigMaps): number;
  apply(input: WiringInput): WiringOutcome;
}

export function unsupported(message: string): WiringOutcome {
  return { exposed: false, reason: 'unsupported-wiring', message };
}

export const TEMPLATE_SPEC = ['spec', 'template', 'spec'] as const;
