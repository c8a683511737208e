import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

/** RFC 6901: `~` and `/` inside a key must be escaped, e.g. `kafka-nodeport-injector/status`. */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

/**
 * Records JSON Patch operations while applying each one to a working copy, so that later steps
 * read the object as it will be after the earlier ones (array indices stay right) and the patch
 * applied to the input gives exactly `draft`.
 *
 * We build operations by hand instead of diffing with `compare()`: a diff turns an insertion in
 * the middle of `env` into a cascade of index `replace`s, which is neither minimal nor stable.
 */
export class PatchBuilder<T extends object> {
  readonly draft: T;
  readonly operations: Operation[] = [];

  constructor(original: T) {
    this.draft = structuredClone(original);
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

  private apply(operation: Operation): void {
    const copy = structuredClone(operation);
    fastJsonPatch.applyOperation(this.draft, copy, true, true, false);
    this.operations.push(operation);
  }
}
