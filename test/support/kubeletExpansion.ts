/**
 * How the kubelet turns a container spec into a process environment — written independently of
 * the mutation core, so tests judge the core's output by what Kubernetes would really do:
 * - `$(VAR)` in an env value expands only from entries defined earlier in the list (and from
 *   nothing else); unknown references stay as written; `$$` escapes a `$`.
 * - `$(VAR)` in command and args expands from the complete env.
 * - downward-API fieldRefs resolve from the pod's facts.
 */
import type { Container } from '../../src/core/kubeTypes.ts';

export interface PodFacts {
  name: string;
  namespace: string;
  hostIP: string;
  podIP: string;
  /** The node the pod runs on (`spec.nodeName`). */
  nodeName?: string;
}

export function expandReferences(text: string, env: Map<string, string>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (ch !== '$' || i + 1 >= text.length) {
      out += ch;
      continue;
    }
    const next = text.charAt(i + 1);
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = text.indexOf(')', i + 2);
      const name = close < 0 ? '' : text.slice(i + 2, close);
      if (close >= 0 && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name) && env.has(name)) {
        out += env.get(name) ?? '';
        i = close;
      } else out += ch;
    } else out += ch;
  }
  return out;
}

const FIELDS: Record<string, (pod: PodFacts) => string> = {
  'metadata.name': (p) => p.name,
  'metadata.namespace': (p) => p.namespace,
  'status.hostIP': (p) => p.hostIP,
  'status.podIP': (p) => p.podIP,
  'spec.nodeName': (p) => p.nodeName ?? 'node-of-' + p.name,
};

/** The container's environment as the process sees it; Secret values become placeholders. */
export function containerEnv(container: Container, pod: PodFacts): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of container.env ?? []) {
    const fieldPath = entry.valueFrom?.fieldRef?.fieldPath;
    let value: string;
    if (fieldPath !== undefined) {
      const field = FIELDS[fieldPath];
      if (!field) throw new Error(`unsupported fieldRef ${fieldPath}`);
      value = field(pod);
    } else if (entry.valueFrom) value = `secret-of-${entry.name}`;
    else value = expandReferences(entry.value ?? '', env);
    env.set(entry.name, value);
  }
  return env;
}

export function expandedCommand(container: Container, env: Map<string, string>): string[] {
  return [...(container.command ?? []), ...(container.args ?? [])].map((part) => expandReferences(part, env));
}
