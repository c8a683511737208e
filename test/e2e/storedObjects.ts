/**
 * Reading what the API server stored, and comparing it with what Helm (or `mutate`) produced.
 *
 * The comparison is "the stored object contains the expected one": every field the manifest sets
 * must be stored with the same value, while fields the API server adds (defaults, status, uid,
 * clusterIP, …) are ignored. A `null` in the manifest sets nothing (the API server may default the
 * field); Go's `omitempty` drops zero values on the way in, so an empty string, list, map, `false`
 * or `0` matches an absent field; resource quantities compare by value (`1000m` is stored as `1`).
 */
import { parseAllDocuments } from 'yaml';
import type { Cluster } from './cluster.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface KubeObj {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { uid: string; kind: string; name: string }[];
  };
  [field: string]: unknown;
}

/** Parse Helm output the way Helm and the API server read it: YAML 1.1 (`0755` is octal, `yes` a boolean). */
export function parseManifests(text: string): KubeObj[] {
  return parseAllDocuments(text, { version: '1.1' })
    .map((d) => d.toJS() as unknown)
    .filter((o): o is KubeObj => typeof o === 'object' && o !== null && 'kind' in o);
}

function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith('y')) return `${lower.slice(0, -1)}ies`;
  if (lower.endsWith('s')) return `${lower}es`;
  return `${lower}s`;
}

/** REST path of a (namespaced, unless Cluster*) object, or of its collection when `name` is omitted. */
export function restPath(apiVersion: string, kind: string, namespace: string, name?: string): string {
  const group = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`;
  const scope = kind.startsWith('Cluster') ? '' : `/namespaces/${namespace}`;
  return `${group}${scope}/${pluralOf(kind)}${name === undefined ? '' : `/${name}`}`;
}

/** The stored object, or undefined on 404; throws on any other answer. */
export async function getObject<T extends KubeObj = KubeObj>(
  cluster: Cluster,
  apiVersion: string,
  kind: string,
  namespace: string,
  name: string,
): Promise<T | undefined> {
  const r = await cluster.api('GET', restPath(apiVersion, kind, namespace, name));
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET ${kind} ${namespace}/${name}: HTTP ${r.status}: ${r.text}`);
  return r.json as T;
}

/** A namespace's objects of one kind; list items get their `kind` back (the API leaves it out). */
export async function listObjects(
  cluster: Cluster,
  apiVersion: string,
  kind: string,
  namespace: string,
): Promise<KubeObj[]> {
  const r = await cluster.api('GET', restPath(apiVersion, kind, namespace));
  if (r.status !== 200) throw new Error(`LIST ${kind} in ${namespace}: HTTP ${r.status}: ${r.text}`);
  const items = (r.json as { items?: KubeObj[] }).items ?? [];
  return items.map((item) => ({ ...item, apiVersion, kind }));
}

/** The stored counterpart of every manifest object (undefined where nothing is stored). */
export async function storedCounterparts(
  cluster: Cluster,
  namespace: string,
  objects: KubeObj[],
): Promise<(KubeObj | undefined)[]> {
  return Promise.all(
    objects.map((o) =>
      getObject(cluster, o.apiVersion ?? 'v1', o.kind ?? '', namespace, o.metadata?.name ?? ''),
    ),
  );
}

const QUANTITY = /^([+-]?\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

function quantity(value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const m = QUANTITY.exec(String(value));
  if (!m) return undefined;
  return Number(m[1]) * (SUFFIX[m[2] ?? ''] ?? NaN);
}

function isZero(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    value === '' ||
    value === false ||
    value === 0 ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === 'object' && Object.keys(value).length === 0)
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const escape = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1');

/** Paths (with both values) where `actual` does not contain `expected`. */
export function containmentDiffs(expected: unknown, actual: unknown, at = ''): string[] {
  if (expected === null || expected === undefined) return [];
  if (isZero(expected) && isZero(actual)) return [];
  if (isPlainObject(expected)) {
    if (!isPlainObject(actual)) return [`${at || '/'}: expected an object, stored ${JSON.stringify(actual)}`];
    return Object.entries(expected).flatMap(([k, v]) => containmentDiffs(v, actual[k], `${at}/${escape(k)}`));
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      return [`${at}: expected ${JSON.stringify(expected)}, stored ${JSON.stringify(actual)}`];
    }
    return expected.flatMap((v, i) => containmentDiffs(v, actual[i], `${at}/${i}`));
  }
  if (expected === actual) return [];
  const qe = quantity(expected);
  if (qe !== undefined && qe === quantity(actual)) return [];
  return [`${at}: expected ${JSON.stringify(expected)}, stored ${JSON.stringify(actual)}`];
}

/** For each manifest object, what the stored counterpart lacks or has differently. */
/** A Secret's `stringData` is write-only: the API server merges it into `data`, base64. */
function asStored(object: KubeObj): KubeObj {
  const stringData = (object as { stringData?: Record<string, string> }).stringData;
  if (object.kind !== 'Secret' || stringData === undefined) return object;
  const stored: KubeObj & { stringData?: unknown; data?: Record<string, string> } = structuredClone(object);
  delete stored.stringData;
  stored.data = { ...stored.data };
  for (const [key, value] of Object.entries(stringData))
    stored.data[key] = Buffer.from(value).toString('base64');
  return stored;
}

export function releaseDiffs(expected: KubeObj[], stored: (KubeObj | undefined)[]): string[] {
  return expected.flatMap((e, i) => {
    const id = `${e.kind ?? '?'} ${e.metadata?.name ?? '?'}`;
    const s = stored[i];
    if (s === undefined) return [`${id}: not stored`];
    return containmentDiffs(asStored(e), s).map((d) => `${id} ${d}`);
  });
}

/** JSON Pointers of the leaves where `a` and `b` differ (a list whose length changed counts as one leaf). */
export function changedPaths(a: unknown, b: unknown, at = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].flatMap((k) =>
      changedPaths(a[k], b[k], `${at}/${escape(k)}`),
    );
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((v, i) => changedPaths(v, b[i], `${at}/${i}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

/** A copy of `value` without the fields at `paths` (JSON Pointers). */
export function omitPaths(value: unknown, paths: string[]): unknown {
  const copy = structuredClone(value);
  for (const p of paths) {
    const keys = p
      .split('/')
      .slice(1)
      .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop();
    let cur: unknown = copy;
    for (const k of keys)
      cur = isPlainObject(cur) || Array.isArray(cur) ? (cur as Record<string, unknown>)[k] : undefined;
    if (last !== undefined && (isPlainObject(cur) || Array.isArray(cur))) Reflect.deleteProperty(cur, last);
  }
  return copy;
}
