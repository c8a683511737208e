/**
 * Multi-document YAML in and out for `mutate` and `explain`. Documents the core leaves alone are
 * written back byte-for-byte, so `mutate` is safe as a Helm post-renderer.
 */
import fastJsonPatch from 'fast-json-patch';
import { parseAllDocuments, stringify } from 'yaml';
import type { ServiceTarget } from '../core/clientService.ts';
import type { RawConfig } from '../core/config.ts';
import { isRecord, type StatefulSet } from '../core/kubeTypes.ts';
import { mutateObject } from '../core/mutateObject.ts';
import type { MutationResult } from '../core/result.ts';

export interface ManifestDocument {
  /** The document's own text, from its `---` up to the next document: the documents tile the input. */
  source: string;
  object: unknown;
  result: MutationResult;
}

export interface MutationOptions {
  defaults: RawConfig;
  namespaceAnnotations: Record<string, string>;
}

/** True when every selector label is on the pod template. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

interface BrokerContext {
  serviceTarget?: ServiceTarget;
  brokersAlreadyExposed?: boolean;
}

/** What a Service needs to know of the Kafka StatefulSets of the same input that it selects. */
function brokerContextFor(
  object: unknown,
  brokers: { sts: StatefulSet; result: MutationResult }[],
): BrokerContext {
  if (!isRecord(object) || object.kind !== 'Service' || !isRecord(object.spec)) return {};
  const selector = object.spec.selector;
  if (!isRecord(selector)) return {};
  const selected = brokers.filter(({ sts }) =>
    selects(selector as Record<string, string>, sts.spec.template.metadata?.labels ?? {}),
  );
  if (selected.some(({ result }) => result.reason === 'already-exposed'))
    return { brokersAlreadyExposed: true };
  for (const { sts, result } of selected) {
    if (!result.exposure) continue;
    const broker = sts.spec.template.spec.containers;
    const portNames: Record<string, number> = {};
    for (const c of broker) for (const p of c.ports ?? []) if (p.name) portNames[p.name] = p.containerPort;
    const { listener, containerPort } = result.exposure;
    return { serviceTarget: { listener, containerPort, portNames } };
  }
  return {};
}

export function mutateManifests(text: string, options: MutationOptions): ManifestDocument[] {
  const documents = parseAllDocuments(text);
  const parsed = documents.map((doc) => {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]?.message ?? ''}`);
    const [start, , end] = doc.range;
    return { source: text.slice(start, end), object: doc.toJS() as unknown };
  });
  const run = (object: unknown, context: BrokerContext = {}): MutationResult =>
    mutateObject({
      object,
      defaults: options.defaults,
      namespaceAnnotations: options.namespaceAnnotations,
      ...context,
    });
  // StatefulSets first: a Service's target port comes from the broker it selects.
  const results = parsed.map(({ object }) =>
    isRecord(object) && object.kind === 'StatefulSet' ? run(object) : undefined,
  );
  const brokers = parsed.flatMap(({ object }, i) => {
    const result = results[i];
    return result && result.decision !== 'skipped' ? [{ sts: object as StatefulSet, result }] : [];
  });
  return parsed.map(({ source, object }, i) => ({
    source,
    object,
    result: results[i] ?? run(object, brokerContextFor(object, brokers)),
  }));
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
      return documentHeader(d.source) + stringify(applyResult(d), { lineWidth: 0 });
    })
    .join('');
}
