/**
 * SPEC §6: work bounded by input. Limits far above any real chart, checked before any other work
 * (iteratively: a deeply nested object must not overflow the stack that checks it). An object
 * beyond them is admitted unchanged, saying which limit and where.
 */
import { isRecord } from './kubeTypes.ts';

export const INPUT_LIMITS = {
  /** Nesting of objects and arrays; real StatefulSets nest under 20 levels. */
  depth: 64,
  /** Containers plus init containers of one pod template. */
  containers: 64,
  /** Env entries of one container. */
  envPerContainer: 1024,
  /** Characters of one env value or one command/args element (a listener list lives there). */
  textChars: 256 * 1024,
} as const;

function tooDeep(object: unknown): boolean {
  const stack: [unknown, number][] = [[object, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [value, depth] = item;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > INPUT_LIMITS.depth) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

function podSpecOf(object: Record<string, unknown>): Record<string, unknown> | undefined {
  const spec = object.spec;
  const template = isRecord(spec) ? spec.template : undefined;
  return isRecord(template) && isRecord(template.spec) ? template.spec : undefined;
}

function containerProblem(container: unknown, where: string): string | undefined {
  if (!isRecord(container)) return undefined;
  const env = Array.isArray(container.env) ? container.env : [];
  if (env.length > INPUT_LIMITS.envPerContainer) {
    return `${where} has ${String(env.length)} env entries (at most ${String(INPUT_LIMITS.envPerContainer)} are read)`;
  }
  const texts: [string, unknown][] = [
    ...env.map((e): [string, unknown] => [
      `env ${isRecord(e) ? String(e.name) : '?'}`,
      isRecord(e) ? e.value : undefined,
    ]),
    ...(['command', 'args'] as const).flatMap((field) =>
      (Array.isArray(container[field]) ? (container[field] as unknown[]) : []).map(
        (text, i): [string, unknown] => [`${field}[${String(i)}]`, text],
      ),
    ),
  ];
  for (const [name, text] of texts) {
    if (typeof text === 'string' && text.length > INPUT_LIMITS.textChars) {
      return `${where} ${name} holds ${String(text.length)} characters (at most ${String(INPUT_LIMITS.textChars)} are read)`;
    }
  }
  return undefined;
}

/** Which limit the object exceeds, or undefined when it is within all of them. */
export function overLimit(object: unknown): string | undefined {
  if (tooDeep(object)) return `it nests deeper than ${String(INPUT_LIMITS.depth)} levels`;
  if (!isRecord(object)) return undefined;
  const pod = podSpecOf(object);
  if (!pod) return undefined;
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
  const containers = [...list(pod.containers), ...list(pod.initContainers)];
  if (containers.length > INPUT_LIMITS.containers) {
    return `its pod has ${String(containers.length)} containers (at most ${String(INPUT_LIMITS.containers)} are read)`;
  }
  for (const container of containers) {
    const name = isRecord(container) && typeof container.name === 'string' ? container.name : '?';
    const problem = containerProblem(container, `container ${name}`);
    if (problem) return problem;
  }
  return undefined;
}
