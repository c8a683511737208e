/**
 * The mutation core's front door: one object and its configuration sources in, a decision and a
 * minimal JSON Patch out. No I/O; the webhook, `mutate` and `explain` all call this.
 */
import { mutateClientService, isKafkaService } from './clientService.ts';
import {
  ConfigError,
  configFromAnnotations,
  INJECT_LABEL,
  resolveConfig,
  type ConfigSource,
  type RawConfig,
} from './config.ts';
import type { ConfigMaps } from './configMaps.ts';
import { overLimit } from './inputLimits.ts';
import { isRecord, stringOr } from './kubeTypes.ts';
import { mutateStatefulSet } from './mutateStatefulSet.ts';
import { checkService, checkStatefulSet } from './objectShape.ts';
import { isKafkaStatefulSet, isZookeeperStatefulSet } from './recognizeKafka.ts';
import type { BrokerContext } from './release.ts';
import { outcome, type MutationResult } from './result.ts';
import { readsConfigMapFile } from './wiring/startScriptWiring.ts';

/**
 * For a Service, the BrokerContext fields say what is known of the broker StatefulSets it selects
 * (the CLI sees the whole release; the webhook may not have seen the StatefulSet yet).
 */
export interface MutationInput extends BrokerContext {
  object: unknown;
  /** Annotations of the object's namespace (SPEC §2 second source). */
  namespaceAnnotations?: Record<string, string>;
  /** Server flags / CLI flags (SPEC §2 third source). */
  defaults?: RawConfig;
  /** The release's ConfigMaps, for a StatefulSet whose broker runs a script from one. */
  configMaps?: ConfigMaps;
}

function describe(object: unknown): string {
  if (!isRecord(object)) return typeof object;
  const meta = isRecord(object.metadata) ? object.metadata : {};
  const namespace = stringOr(meta.namespace);
  const name = stringOr(meta.name, stringOr(meta.generateName, '?'));
  // Kubernetes names are at most 253 characters; a client's longer one is not repeated in full.
  const clip = (text: string): string => (text.length > 253 ? `${text.slice(0, 252)}…` : text);
  return `${clip(stringOr(object.kind, '?'))} ${namespace ? `${clip(namespace)}/` : ''}${clip(name)}`;
}

/**
 * Whether this object's answer may change once the release's ConfigMaps are known: a StatefulSet
 * whose pod runs a script from one, decided without it (the webhook has only the object).
 */
export function needsConfigMaps(object: unknown, result: MutationResult): boolean {
  if (result.reason !== 'unsupported-wiring' && result.reason !== 'not-kafka') return false;
  const shape = isRecord(object) && object.kind === 'StatefulSet' ? checkStatefulSet(object) : undefined;
  if (shape?.ok !== true) return false;
  // ZooKeeper runs scripts from ConfigMaps too, and stays ZooKeeper whatever they say.
  return !isZookeeperStatefulSet(shape.object) && readsConfigMapFile(shape.object.spec.template.spec);
}

export function mutateObject(input: MutationInput): MutationResult {
  const { object } = input;
  try {
    if (!isRecord(object) || typeof object.kind !== 'string') {
      return outcome('skipped', 'invalid-object', 'not a Kubernetes object');
    }
    const kind = object.kind;
    if (kind !== 'StatefulSet' && kind !== 'Service') {
      return outcome('skipped', 'unsupported-kind', `kind ${kind} is never mutated`);
    }
    const limit = overLimit(object);
    if (limit) return outcome('unchanged', 'over-limit', `${describe(object)} left as it is: ${limit}`);
    const shape = kind === 'StatefulSet' ? checkStatefulSet(object) : checkService(object);
    if (!shape.ok) return outcome('skipped', 'invalid-object', `${describe(object)}: ${shape.problem}`);
    const checked = shape.object;
    const meta = checked.metadata;
    if (meta?.labels?.[INJECT_LABEL] === 'disabled') {
      return outcome('skipped', 'opted-out', `label ${INJECT_LABEL}=disabled`);
    }
    // Only objects we would touch are held to their configuration: a bad annotation in an opted-in
    // namespace must not block unrelated workloads.
    const isKafka =
      checked.kind === 'StatefulSet'
        ? isKafkaStatefulSet(checked, input.configMaps)
        : isKafkaService(checked);
    if (!isKafka) return outcome('skipped', 'not-kafka', `not a Kafka ${kind}`);

    const sources: ConfigSource[] = [
      { name: `annotation on ${describe(object)}`, values: configFromAnnotations(meta?.annotations) },
      { name: 'namespace annotation', values: configFromAnnotations(input.namespaceAnnotations) },
      { name: 'server flag', values: input.defaults ?? {} },
    ];
    let config;
    try {
      config = resolveConfig(sources);
    } catch (error) {
      if (error instanceof ConfigError) return outcome('denied', 'invalid-config', error.message);
      throw error;
    }
    if (checked.kind === 'StatefulSet') return mutateStatefulSet(checked, config, input.configMaps);
    return mutateClientService(checked, config, input);
  } catch (error) {
    // A bug must never block an install: admit unchanged, say why.
    const message = error instanceof Error ? error.message : String(error);
    return outcome('error', 'internal-error', `internal error on ${describe(object)}: ${message}`);
  }
}
