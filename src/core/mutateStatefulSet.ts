/** SPEC §3 Kafka StatefulSet: expose one listener per broker, pin brokers, record the result. */
import type { InjectorConfig } from './config.ts';
import { NO_CONFIG_MAPS, type ConfigMaps } from './configMaps.ts';
import type { StatefulSet } from './kubeTypes.ts';
import { PatchBuilder } from './patchBuilder.ts';
import { usesChartExternalAccess } from './recognizeKafka.ts';
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

export function mutateStatefulSet(
  sts: StatefulSet,
  config: InjectorConfig,
  configMaps: ConfigMaps = NO_CONFIG_MAPS,
): MutationResult {
  const spec = sts.spec.template.spec;
  const found = WIRINGS.map((wiring) => ({ wiring, index: wiring.brokerIndex(spec, configMaps) })).find(
    (w) => w.index >= 0,
  );
  const container = found && spec.containers[found.index];
  if (!found || !container) {
    return outcome(
      'unchanged',
      'unsupported-wiring',
      'advertised listeners are wired in a way this version does not know',
    );
  }

  if (usesChartExternalAccess(spec)) {
    return outcome('unchanged', 'already-exposed', "the chart's own externalAccess exposes each broker");
  }
  const builder = new PatchBuilder(sts);
  const wired = found.wiring.apply({ sts, builder, config, container, index: found.index, configMaps });
  if (!wired.exposed) return outcome('unchanged', wired.reason, wired.message);

  const changes = [...wired.changes, ...ensurePlacement(builder, sts, config)];
  const { exposure } = wired;
  ensureStatusAnnotation(builder, sts, {
    nodePort: config.nodePort,
    listener: exposure.listener,
    family: exposure.family,
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
