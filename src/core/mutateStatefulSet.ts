/** SPEC §3 Kafka StatefulSet: expose one listener per broker, pin brokers, record the result. */
import type { InjectorConfig } from './config.ts';
import type { StatefulSet } from './kubeTypes.ts';
import { PatchBuilder } from './patchBuilder.ts';
import { ensurePlacement } from './placement.ts';
import { exposedResult, outcome, type MutationResult } from './result.ts';
import { ensureStatusAnnotation } from './statusAnnotation.ts';
import { commandWiring } from './wiring/commandWiring.ts';
import { envWiring } from './wiring/envWiring.ts';
import { initFileWiring } from './wiring/initFileWiring.ts';
import { scriptExportWiring } from './wiring/scriptExportWiring.ts';
import type { Wiring } from './wiring/wiring.ts';

/** Most specific first: an env-wired chart may also mount files, a script may also set env. */
export const WIRINGS: Wiring[] = [envWiring, commandWiring, scriptExportWiring, initFileWiring];

export function mutateStatefulSet(sts: StatefulSet, config: InjectorConfig): MutationResult {
  const spec = sts.spec.template.spec;
  const wiring = WIRINGS.find((w) => w.detect(spec));
  if (!wiring) {
    return outcome(
      'unchanged',
      'unsupported-wiring',
      'advertised listeners are wired in a way this version does not know',
    );
  }

  const builder = new PatchBuilder(sts);
  const wired = wiring.apply({ sts, builder, config });
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
    exposure,
  );
}
