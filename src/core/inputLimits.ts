/**
 * SPEC §6: work bounded by input. Limits far above any real chart, checked before any other work
 * (the depth check recurses at most the depth limit itself, so a deeply nested object cannot
 * overflow the stack that checks it). An object
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

/**
 * Recursive, but never deeper than the limit itself: it returns as soon as a level beyond it is
 * reached, so the stack holds at most `INPUT_LIMITS.depth + 1` frames whatever the input.
 */
function tooDeep(value: object, depth: number): boolean {
  if (depth > INPUT_LIMITS.depth) return true;
  if (Array.isArray(value)) {
    for (const child of value as unknown[]) {
      if (typeof child === 'object' && child !== null && tooDeep(child, depth + 1)) return true;
    }
    return false;
  }
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const child = (value as Record<string, unknown>)[keys[i] as string];
    if (typeof child === 'object' && child !== null && tooDeep(child, depth + 1)) return true;
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
  // Names are only built for the entry that is too long: this runs on every admitted object.
  for (const e of env as unknown[]) {
    const text = isRecord(e) ? e.value : undefined;
    if (typeof text === 'string' && text.length > INPUT_LIMITS.textChars) {
      return `${where} env ${isRecord(e) ? String(e.name) : '?'} holds ${String(text.length)} characters (at most ${String(INPUT_LIMITS.textChars)} are read)`;
    }
  }
  for (const field of ['command', 'args'] as const) {
    const texts = container[field];
    if (!Array.isArray(texts)) continue;
    for (let i = 0; i < texts.length; i++) {
      const text: unknown = texts[i];
      if (typeof text === 'string' && text.length > INPUT_LIMITS.textChars) {
        return `${where} ${field}[${String(i)}] holds ${String(text.length)} characters (at most ${String(INPUT_LIMITS.textChars)} are read)`;
      }
    }
  }
  return undefined;
}

/** Which limit the object exceeds, or undefined when it is within all of them. */
export function overLimit(object: unknown): string | undefined {
  if (typeof object === 'object' && object !== null && tooDeep(object, 1))
    return `it nests deeper than ${String(INPUT_LIMITS.depth)} levels`;
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
