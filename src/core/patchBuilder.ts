import type { Operation } from 'fast-json-patch';

/** RFC 6901: `~` and `/` inside a key must be escaped, e.g. `kafka-nodeport-injector/status`. */
export function pointer(...segments: (string | number)[]): string {
  let path = '';
  for (const segment of segments) {
    const text = typeof segment === 'number' ? String(segment) : segment;
    path +=
      text.includes('~') || text.includes('/')
        ? '/' + text.replaceAll('~', '~0').replaceAll('/', '~1')
        : '/' + text;
  }
  return path;
}

function unescapeSegment(segment: string): string {
  return segment.includes('~') ? segment.replaceAll('~1', '/').replaceAll('~0', '~') : segment;
}

/**
 * Records JSON Patch operations while applying each one to a working copy, so that later steps
 * read the object as it will be after the earlier ones (array indices stay right) and a patch that
 * would not apply fails here, inside the core, never at the API server.
 *
 * The working copy is copy-on-write: only the objects and arrays on an operation's path are copied
 * (shallowly), the first time an operation goes through them; everything else is shared with the
 * input, which is never written. The cost is proportional to the paths touched, not to the object
 * (a whole-object `structuredClone` was half the core's time on the seed StatefulSet).
 *
 * We build operations by hand instead of diffing with `compare()`: a diff turns an insertion in
 * the middle of `env` into a cascade of index `replace`s, which is neither minimal nor stable.
 */
export class PatchBuilder<T extends object> {
  private root: T;
  /** Containers this builder made (copies): the only ones it may write. */
  private readonly owned = new Set<object>();
  readonly operations: Operation[] = [];

  constructor(original: T) {
    this.root = original;
  }

  /** The object as the patch leaves it (shares unchanged parts with the input: do not write to it). */
  get draft(): T {
    return this.root;
  }

  /** `add` creates or overwrites an object member, or inserts into an array at an index or `-`. */
  add(path: string, value: unknown): void {
    this.apply({ op: 'add', path, value });
  }

  remove(path: string): void {
    this.apply({ op: 'remove', path });
  }

  replace(path: string, value: unknown): void {
    this.apply({ op: 'replace', path, value });
  }

  private own<V extends object>(value: V): V {
    if (this.owned.has(value)) return value;
    const copy = (Array.isArray(value) ? [...(value as unknown[])] : { ...value }) as V;
    this.owned.add(copy);
    return copy;
  }

  /**
   * RFC 6902 `add`, `remove` and `replace` on the working copy, as strictly as fast-json-patch's
   * validating `applyOperation` (a missing parent, a missing member to replace or remove, an array
   * index out of range or an undefined value throw), walking the path once.
   */
  private apply(operation: AddReplaceRemove): void {
    const { path } = operation;
    const keys = path.split('/');
    if (keys.length < 2 || keys[0] !== '') throw new PatchError(`not a JSON pointer to a member: ${path}`);
    if (operation.op !== 'remove' && hasUndefined(operation.value)) {
      throw new PatchError(`${operation.op} ${path}: the value holds undefined`);
    }
    this.root = this.own(this.root);
    let parent: object = this.root;
    const last = keys.length - 1;
    for (let i = 1; i < last; i++) {
      const key = memberKey(parent, keys[i] ?? '', path, false);
      const child = (parent as Record<string | number, unknown>)[key];
      if (typeof child !== 'object' || child === null) {
        throw new PatchError(
          `${operation.op} ${path}: no object or array at ${keys.slice(0, i + 1).join('/')}`,
        );
      }
      if (this.owned.has(child)) {
        parent = child;
        continue;
      }
      const mine = this.own(child);
      (parent as Record<string | number, unknown>)[key] = mine;
      parent = mine;
    }
    const segment = keys[last] ?? '';
    if (Array.isArray(parent)) {
      const list = parent as unknown[];
      if (operation.op === 'add') {
        if (segment === '-') list.push(operation.value);
        else list.splice(arrayIndex(segment, list.length, path), 0, operation.value);
      } else {
        const index = arrayIndex(segment, list.length - 1, path);
        if (operation.op === 'replace') list[index] = operation.value;
        else list.splice(index, 1);
      }
    } else {
      const key = memberKey(parent, segment, path, operation.op === 'add');
      const members = parent as Record<string, unknown>;
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- JSON Patch `remove` of a member
      if (operation.op === 'remove') delete members[key];
      else members[key] = operation.value;
    }
    this.operations.push(operation);
  }
}

type AddReplaceRemove = Extract<Operation, { op: 'add' | 'replace' | 'remove' }>;

/** A patch that would not apply: a bug in a wiring step, reported by the core as an internal error. */
export class PatchError extends Error {}

/** An array index within 0..max (RFC 6901: no leading zeros, no sign). */
function arrayIndex(segment: string, max: number, path: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(segment) || Number(segment) > max) {
    throw new PatchError(`${path}: array index ${segment} out of range (0..${String(max)})`);
  }
  return Number(segment);
}

/** An object member's key (unescaped); it must exist unless the operation may create it. */
function memberKey(parent: object, segment: string, path: string, mayCreate: boolean): string | number {
  if (Array.isArray(parent)) return arrayIndex(segment, parent.length - 1, path);
  const key = unescapeSegment(segment);
  if (key === '__proto__') throw new PatchError(`${path}: __proto__ is not a member`);
  if (!mayCreate && !Object.hasOwn(parent, key)) throw new PatchError(`${path}: no member ${key}`);
  return key;
}

function hasUndefined(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'object' || value === null) return false;
  for (const child of Array.isArray(value) ? (value as unknown[]) : Object.values(value)) {
    if (hasUndefined(child)) return true;
  }
  return false;
}
