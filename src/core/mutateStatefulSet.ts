/** SPEC §3 Kafka StatefulSet: expose one listener per broker, pin brokers, record the result. */
import { ensureAdvertisedHost } from './advertisedHost.ts';
import { ANNOTATION_PREFIX, type InjectorConfig } from './config.ts';
import { NO_CONFIG_MAPS, type ConfigMaps } from './configMaps.ts';
import type { PodSpec, StatefulSet } from './kubeTypes.ts';
import { PatchBuilder } from './patchBuilder.ts';
import { brokerContainerIndex, usesChartExternalAccess } from './recognizeKafka.ts';
import { ensurePlacement } from './placement.ts';
import { exposedResult, outcome, type MutationResult } from './result.ts';
import { ensureStatusAnnotation } from './statusAnnotation.ts';
import { commandWiring } from './wiring/commandWiring.ts';
import { envWiring } from './wiring/envWiring.ts';
import { imageEnvWiring } from './wiring/imageEnvWiring.ts';
import { initFileWiring } from './wiring/initFileWiring.ts';
import { mountedConfigWiring } from './wiring/mountedConfigWiring.ts';
import { startScriptWiring } from './wiring/startScriptWiring.ts';
import { scriptExportWiring } from './wiring/scriptExportWiring.ts';
import type { Wiring } from './wiring/wiring.ts';

/**
 * Most specific first: an env-wired chart may also mount files, a script may also set env. Plain
 * image env comes last: a chart's own script or init step may set KAFKA_ADVERTISED_LISTENERS too,
 * and then that script is what the broker runs.
 */
export const WIRINGS: Wiring[] = [
  envWiring,
  commandWiring,
  scriptExportWiring,
  initFileWiring,
  mountedConfigWiring,
  startScriptWiring,
  imageEnvWiring,
];

const LISTENER_PORT_KEY = `${ANNOTATION_PREFIX}listener-port`;

const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);

/** What the broker container runs, for a broker no family recognises: the user must see why. */
function whatWasFound(spec: PodSpec): string {
  const broker = spec.containers[brokerContainerIndex(spec)] ?? spec.containers[0];
  if (!broker) return 'no containers';
  const command = [...(broker.command ?? []), ...(broker.args ?? [])].join(' ').replace(/\s+/g, ' ');
  const env = (broker.env ?? []).map((e) => e.name).filter((n) => n.startsWith('KAFKA_'));
  const mounts = (broker.volumeMounts ?? [])
    .filter((m) => spec.volumes?.some((v) => v.name === m.name && v.configMap !== undefined))
    .map((m) => m.mountPath);
  const found = [
    `container ${broker.name}`,
    command ? `command "${clip(command, 120)}"` : "the image's own entrypoint",
    env.length > 0 ? `env ${clip(env.join(', '), 160)}` : 'no KAFKA_* env',
    ...(mounts.length > 0 ? [`ConfigMap mounts ${clip(mounts.join(', '), 120)}`] : []),
  ];
  return `${found.join('; ')}: no advertised listeners in KAFKA_CFG_ADVERTISED_LISTENERS or KAFKA_ADVERTISED_LISTENERS env, the command, a ConfigMap start script or a mounted properties file`;
}

/** The first family (in WIRINGS order) that finds a broker; later ones are not asked. */
function firstWiring(spec: PodSpec, configMaps: ConfigMaps): { wiring: Wiring; index: number } | undefined {
  for (const wiring of WIRINGS) {
    const index = wiring.brokerIndex(spec, configMaps);
    if (index >= 0) return { wiring, index };
  }
  return undefined;
}

export function mutateStatefulSet(
  sts: StatefulSet,
  config: InjectorConfig,
  configMaps: ConfigMaps = NO_CONFIG_MAPS,
): MutationResult {
  const spec = sts.spec.template.spec;
  const found = firstWiring(spec, configMaps);
  const container = found && spec.containers[found.index];
  if (!found || !container) {
    return outcome('unchanged', 'unsupported-wiring', whatWasFound(spec));
  }

  if (usesChartExternalAccess(spec)) {
    return outcome('unchanged', 'already-exposed', "the chart's own externalAccess exposes each broker");
  }
  const builder = new PatchBuilder(sts);
  const wired = found.wiring.apply({ sts, builder, config, container, index: found.index, configMaps });
  if (!wired.exposed) return outcome('unchanged', wired.reason, wired.message);
  const { exposure } = wired;
  if (config.listenerPort !== undefined && config.listenerPort !== exposure.containerPort) {
    // Its client Service routes the node port to the stated port, whatever order they came in.
    return outcome(
      'unchanged',
      'unsupported-wiring',
      `${LISTENER_PORT_KEY} is ${String(config.listenerPort)}, but the exposed listener ${exposure.listener} binds container port ${String(exposure.containerPort)}: set ${LISTENER_PORT_KEY} to ${String(exposure.containerPort)}, or ${ANNOTATION_PREFIX}listener to the listener that binds ${String(config.listenerPort)}`,
    );
  }
  const host = ensureAdvertisedHost(builder, found.index, config, exposure.hostReader, exposure.listener);
  if (!host.ok) return outcome('unchanged', 'unsupported-wiring', host.message);

  const changes = [...wired.changes, ...host.changes, ...ensurePlacement(builder, sts, config)];
  ensureStatusAnnotation(builder, sts, {
    nodePort: config.nodePort,
    listener: exposure.listener,
    family: exposure.family,
    addressType: config.addressType,
    advertisedHosts: config.advertisedHosts,
    changes,
  });
  return exposedResult(
    builder.operations,
    changes,
    `${exposure.family} wiring advertises ${exposure.advertised}`,
    config.nodePort,
    exposure,
  );
}
