/**
 * Multi-document YAML in and out for `mutate` and `explain`. Documents the core leaves alone are
 * written back byte-for-byte, so `mutate` is safe as a Helm post-renderer.
 */
import fastJsonPatch from 'fast-json-patch';
import { parseAllDocuments, stringify } from 'yaml';
import { mutateRelease, type ReleaseOptions } from '../core/release.ts';
import type { MutationResult } from '../core/result.ts';

export interface ManifestDocument {
  /** The document's own text, from its `---` up to the next document: the documents tile the input. */
  source: string;
  object: unknown;
  result: MutationResult;
}

export type MutationOptions = ReleaseOptions;

/** Parse a multi-document manifest, YAML 1.1 as kubectl and Helm read it. */
export function parseManifests(text: string): { source: string; object: unknown }[] {
  // YAML 1.1, as kubectl and Helm read manifests: `defaultMode: 0755` is octal 493, not 755.
  const documents = parseAllDocuments(text, { version: '1.1' });
  return documents.map((doc) => {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]?.message ?? ''}`);
    const [start, , end] = doc.range;
    return { source: text.slice(start, end), object: doc.toJS() as unknown };
  });
}

export function mutateManifests(text: string, options: MutationOptions): ManifestDocument[] {
  const parsed = parseManifests(text);
  const results = mutateRelease(
    parsed.map(({ object }) => object),
    options,
  );
  return parsed.map(({ source, object }, i) => ({ source, object, result: results[i] as MutationResult }));
}

/** The object after its patch. */
export function applyResult(document: ManifestDocument): unknown {
  if (document.result.patch.length === 0) return document.object;
  return fastJsonPatch.applyPatch(structuredClone(document.object), document.result.patch, true, false)
    .newDocument;
}

/** The `---` marker and comment lines (Helm's `# Source:`) that open a document. */
function documentHeader(source: string): string {
  const lines = source.split('\n');
  const body = lines.findIndex(
    (line) => !(line.startsWith('---') || line.startsWith('#') || line.trim() === ''),
  );
  const header = lines.slice(0, body < 0 ? lines.length : body).filter((line) => line.trim() !== '');
  if (!header[0]?.startsWith('---')) header.unshift('---');
  return header.map((line) => `${line}\n`).join('');
}

/** Untouched documents are their original bytes; mutated ones keep their header. */
export function renderManifests(documents: ManifestDocument[]): string {
  return documents
    .map((d) => {
      if (d.result.patch.length === 0) return d.source;
      // YAML 1.1 style, so strings like `yes`, `on` or `010` stay quoted for kubectl and Helm,
      // whose parsers would read them as booleans and numbers.
      return documentHeader(d.source) + stringify(applyResult(d), { lineWidth: 0, version: '1.1' });
    })
    .join('');
}
