// The part of kube-scheduler that decides where the StatefulSet's pods land: nodeSelector, required
// and preferred pod anti-affinity (matchLabels / In-NotIn-Exists expressions, any topology key that
// is a node label). Ties go to the node with fewer pods, then to the lower node name. Pure module.
import type { LabelSelector, PodAffinityTerm, PodSpec } from './chart.ts';

export interface SchedNode {
  name: string;
  labels: Record<string, string>;
}

export interface Placement {
  pod: string;
  node: string | undefined; // undefined: Pending
  reason?: string;
}

function matches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value ?? '')) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value ?? '')) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        throw new Error(`unsupported operator ${e.operator}`);
    }
  }
  return true;
}

function conflicts(
  term: PodAffinityTerm,
  node: SchedNode,
  placed: { node: SchedNode; labels: Record<string, string> }[],
): boolean {
  const domain = node.labels[term.topologyKey];
  if (domain === undefined) return false;
  return placed.some(
    (p) => p.node.labels[term.topologyKey] === domain && matches(term.labelSelector, p.labels),
  );
}

/** Place `count` pods named `<prefix>-<i>` (podLabels, spec) onto nodes, in ordinal order. */
export function schedule(
  prefix: string,
  count: number,
  podLabels: Record<string, string>,
  spec: PodSpec,
  nodes: SchedNode[],
): Placement[] {
  const placed: { node: SchedNode; labels: Record<string, string> }[] = [];
  const out: Placement[] = [];
  const required = spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  const preferred = spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  for (let i = 0; i < count; i++) {
    const pod = `${prefix}-${i}`;
    const candidates = nodes.filter(
      (n) =>
        Object.entries(spec.nodeSelector ?? {}).every(([k, v]) => n.labels[k] === v) &&
        required.every((t) => !conflicts(t, n, placed)),
    );
    if (candidates.length === 0) {
      out.push({ pod, node: undefined, reason: 'no node satisfies nodeSelector / required anti-affinity' });
      continue;
    }
    const score = (n: SchedNode): number =>
      -preferred.reduce((s, p) => s + (conflicts(p.podAffinityTerm, n, placed) ? p.weight : 0), 0) * 1000 -
      placed.filter((p) => p.node === n).length;
    candidates.sort((a, b) => score(b) - score(a) || a.name.localeCompare(b.name));
    const chosen = candidates[0];
    if (!chosen) continue;
    placed.push({ node: chosen, labels: podLabels });
    out.push({ pod, node: chosen.name });
  }
  return out;
}
