/**
 * One broker per labelled node (SPEC §3.3): every broker advertises `<its node IP>:<node-port>`,
 * so two brokers on one node would advertise the same endpoint.
 */
import type { InjectorConfig } from './config.ts';
import { ANNOTATION_PREFIX } from './config.ts';
import { holdsDesired } from './desiredState.ts';
import type { PodAffinityTerm, StatefulSet } from './kubeTypes.ts';
import { pointer, type PatchBuilder } from './patchBuilder.ts';

/**
 * Marks the broker pods of one release. The anti-affinity selects on it, so it spans every broker
 * StatefulSet of the release (bitnami 24+ has two) and never the controller-only pods, which are
 * not exposed and may share nodes with brokers.
 */
export const BROKER_GROUP_LABEL = `${ANNOTATION_PREFIX}broker-group`;
const HOSTNAME_TOPOLOGY = 'kubernetes.io/hostname';
const TEMPLATE = ['spec', 'template'] as const;

/** The release a StatefulSet belongs to, as a label value (≤ 63 characters). */
export function brokerGroup(sts: StatefulSet): string {
  const labels = { ...sts.metadata?.labels, ...sts.spec.template.metadata?.labels };
  const group = labels['app.kubernetes.io/instance'] ?? labels.release ?? sts.metadata?.name ?? 'kafka';
  return group.slice(0, 63).replace(/[^A-Za-z0-9]+$/, '');
}

function ensureGroupLabel(builder: PatchBuilder<StatefulSet>, sts: StatefulSet, group: string): void {
  const metadata = sts.spec.template.metadata;
  if (!metadata) builder.add(pointer(...TEMPLATE, 'metadata'), { labels: { [BROKER_GROUP_LABEL]: group } });
  else if (!metadata.labels)
    builder.add(pointer(...TEMPLATE, 'metadata', 'labels'), { [BROKER_GROUP_LABEL]: group });
  else if (metadata.labels[BROKER_GROUP_LABEL] !== group) {
    builder.add(pointer(...TEMPLATE, 'metadata', 'labels', BROKER_GROUP_LABEL), group);
  }
}

function mergeNodeSelector(
  builder: PatchBuilder<StatefulSet>,
  sts: StatefulSet,
  wanted: Record<string, string>,
): void {
  if (Object.keys(wanted).length === 0) return;
  const current = sts.spec.template.spec.nodeSelector;
  if (!current) {
    builder.add(pointer(...TEMPLATE, 'spec', 'nodeSelector'), wanted);
    return;
  }
  for (const [key, value] of Object.entries(wanted)) {
    if (current[key] !== value) builder.add(pointer(...TEMPLATE, 'spec', 'nodeSelector', key), value);
  }
}

/** Appends our term to the chart's anti-affinity; the chart's own (soft) terms are kept. */
function ensureAntiAffinity(
  builder: PatchBuilder<StatefulSet>,
  sts: StatefulSet,
  config: InjectorConfig,
  group: string,
): void {
  if (config.antiAffinity === 'none') return;
  const term: PodAffinityTerm = {
    labelSelector: { matchLabels: { [BROKER_GROUP_LABEL]: group } },
    topologyKey: HOSTNAME_TOPOLOGY,
  };
  const required = config.antiAffinity === 'required';
  const field = required
    ? 'requiredDuringSchedulingIgnoredDuringExecution'
    : 'preferredDuringSchedulingIgnoredDuringExecution';
  const entry = required ? term : { weight: 100, podAffinityTerm: term };

  const affinity = sts.spec.template.spec.affinity;
  const anti = affinity?.podAntiAffinity;
  const terms: unknown[] | null | undefined = anti?.[field];
  if (terms?.some((t) => holdsDesired(entry, t))) return;

  const base = [...TEMPLATE, 'spec', 'affinity'];
  if (!affinity) builder.add(pointer(...base), { podAntiAffinity: { [field]: [entry] } });
  else if (!anti) builder.add(pointer(...base, 'podAntiAffinity'), { [field]: [entry] });
  else if (!terms) builder.add(pointer(...base, 'podAntiAffinity', field), [entry]);
  else builder.add(pointer(...base, 'podAntiAffinity', field, '-'), entry);
}

/** Returns the placement changes guaranteed, for the status annotation. */
export function ensurePlacement(
  builder: PatchBuilder<StatefulSet>,
  sts: StatefulSet,
  config: InjectorConfig,
): string[] {
  const group = brokerGroup(sts);
  const changes: string[] = [];
  if (config.antiAffinity !== 'none') {
    ensureGroupLabel(builder, sts, group);
    ensureAntiAffinity(builder, sts, config, group);
    changes.push(`podAntiAffinity ${config.antiAffinity}: ${BROKER_GROUP_LABEL}=${group}`);
  }
  mergeNodeSelector(builder, sts, config.nodeSelector);
  const selector = Object.entries(config.nodeSelector).map(([k, v]) => `${k}=${v}`);
  if (selector.length > 0) changes.push(`nodeSelector ${selector.join(',')}`);
  return changes;
}
