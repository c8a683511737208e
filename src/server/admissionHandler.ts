/**
 * One admission request in, one answer and one audit record out. What the webhook decides is the
 * mutation core's business; this file only decides whether a request reaches the core at all,
 * gathers the core's inputs (namespace annotations, server defaults), and maps its result onto an
 * AdmissionResponse the way controller-runtime's `Allowed`/`Denied`/`Patched` do.
 *
 * Nothing here may throw past `admit`: whatever fails, the answer keeps the request's uid and
 * admits the object unchanged (SPEC §3: a bug must never block an install).
 */
import type { RawConfig } from '../core/config.ts';
import { isRecord, stringOr, type KubeObject } from '../core/kubeTypes.ts';
import { needsConfigMaps, type MutationInput } from '../core/mutateObject.ts';
import { claimRefusal } from '../core/nodePortClaim.ts';
import { serviceContext } from '../core/release.ts';
import { isUnexposedKafka, type Decision, type MutationResult } from '../core/result.ts';
import {
  deniedStatus,
  encodePatch,
  type AdmissionRequest,
  type AdmissionResponse,
} from './admissionReview.ts';
import { auditAnnotations, boundedRecord, truncate, type AuditRecord } from './audit.ts';
import { ReleaseUnavailable, type ReleaseLookup } from './kubeRelease.ts';
import { configMapsOf } from '../core/configMaps.ts';
import type { ReleaseView } from '../core/release.ts';
import type { NamespaceAnnotationLookup } from './namespaceCache.ts';

/** SPEC §2: never mutated, whatever their labels say. */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'] as const;

export interface AdmissionContext {
  /** Server flags: SPEC §2's third configuration source. */
  defaults: RawConfig;
  namespaces: NamespaceAnnotationLookup;
  /** System namespaces and the webhook's own. */
  protectedNamespaces: ReadonlySet<string>;
  /** The mutation core (`mutateObject`); tests substitute a slow or throwing one. */
  mutate: (input: MutationInput) => MutationResult | Promise<MutationResult>;
  /**
   * Optional: the release a Service belongs to (Helm's release record, else the cluster), so a
   * client Service follows its release's brokers. Throws `ReleaseUnavailable` only.
   */
  release?: ReleaseLookup;
  /** Optional: every Service of the cluster, to refuse a node port another release holds. */
  allServices?: () => Promise<unknown[]>;
}

export interface AdmissionOutcome {
  response: AdmissionResponse;
  record: AuditRecord;
}

/** A decision made here or by the core; the server adds reasons of its own to the core's. */
interface Verdict {
  decision: Decision;
  reason: string;
  message: string;
  patch: MutationResult['patch'];
}

const WARNING_PREFIX = 'kafka-nodeport-injector';
/** The API server truncates longer warnings; keep ours whole. */
const MAX_WARNING = 256;

function skip(reason: string, message: string): Verdict {
  return { decision: 'skipped', reason, message, patch: [] };
}

function objectMeta(object: unknown): KubeObject['metadata'] {
  return isRecord(object) ? (object as KubeObject).metadata : undefined;
}

/** The request's namespace is authoritative: on CREATE the object itself often has none. */
function namespaceOf(request: AdmissionRequest): string {
  return request.namespace ?? objectMeta(request.object)?.namespace ?? '';
}

/**
 * The first object of a release that claims a node port another release holds is refused, and so
 * is every later one: nothing of that release is stored mutated. When the Services cannot be
 * listed the object is admitted (the API server still refuses a second Service on the port).
 */
async function nodePortRefusal(
  object: unknown,
  namespace: string,
  result: MutationResult,
  allServices: () => Promise<unknown[]>,
): Promise<Verdict | undefined> {
  let services: unknown[];
  try {
    services = await allServices();
  } catch {
    return undefined;
  }
  const refusal = claimRefusal(object, namespace, result, services);
  return refusal && { decision: 'denied', ...refusal, patch: [] };
}

async function decide(request: AdmissionRequest, context: AdmissionContext): Promise<Verdict> {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') {
    return skip('operation-not-mutated', `${request.operation} requests are never mutated`);
  }
  if (request.subResource) {
    return skip('operation-not-mutated', `subresource ${request.subResource} is never mutated`);
  }
  const namespace = namespaceOf(request);
  if (context.protectedNamespaces.has(namespace)) {
    return skip('protected-namespace', `namespace ${namespace} is never mutated`);
  }
  const { object } = request;
  const base: MutationInput = {
    object,
    namespaceAnnotations: context.namespaces.annotations(namespace),
    defaults: context.defaults,
  };
  let result = await context.mutate(base);
  const releaseOf = async (): Promise<ReleaseView | Verdict> => {
    try {
      return await (context.release as ReleaseLookup)(namespace, object);
    } catch (error) {
      if (!(error instanceof ReleaseUnavailable)) throw error;
      return {
        decision: 'denied',
        reason: 'release-unreadable',
        message: `${error.message}; retry`,
        patch: [],
      };
    }
  };
  if (context.release && needsConfigMaps(object, result)) {
    // A broker that runs a script from a ConfigMap is decided from that script: the release has it.
    const release = await releaseOf();
    if ('decision' in release) return release;
    const configMaps = configMapsOf(release.objects);
    if (configMaps.size > 0) result = await context.mutate({ ...base, configMaps });
  }
  if (
    context.release &&
    isRecord(object) &&
    object.kind === 'Service' &&
    (result.decision === 'mutated' || result.reason === 'already-exposed')
  ) {
    // Only a Kafka Service we would change (or leave for the chart) costs an API call. Its answer
    // depends on the release's brokers: which port their exposed listener binds, or that they are
    // not exposed at all.
    const release = await releaseOf();
    if ('decision' in release) return release;
    const options = { defaults: context.defaults, namespaceAnnotations: base.namespaceAnnotations ?? {} };
    const brokerContext = serviceContext(object, release, options);
    if (Object.keys(brokerContext).length > 0) result = await context.mutate({ ...base, ...brokerContext });
  }
  if (result.decision === 'mutated' && result.nodePort !== undefined && context.allServices) {
    const refusal = await nodePortRefusal(object, namespace, result, context.allServices);
    if (refusal) return refusal;
  }
  if (result.decision === 'mutated' && context.namespaces.enabled && !context.namespaces.ready) {
    // Before the first namespace listing, a namespace annotation could not be honoured: admitting
    // unchanged, with a warning, beats exposing on the wrong port or nodes.
    return {
      decision: 'error',
      reason: 'namespace-cache-not-ready',
      message:
        'namespace annotations are not loaded yet; admitted unchanged (re-apply once the webhook is ready)',
      patch: [],
    };
  }
  return result;
}

/** The object as people name it: `StatefulSet my-kafka` (`generateName` when it has no name yet). */
function subject(request: AdmissionRequest): { kind: string; name: string } {
  const meta = objectMeta(request.object);
  const objectKind = isRecord(request.object) ? stringOr(request.object.kind) : '';
  return {
    kind: stringOr(request.kind?.kind) || objectKind,
    name: stringOr(request.name) || stringOr(meta?.name) || stringOr(meta?.generateName),
  };
}

/** A Kafka object we could not expose is admitted, but the user deserves to hear about it. */
function warningFor(verdict: Verdict, who: { kind: string; name: string }): string | undefined {
  if (!isUnexposedKafka(verdict)) return undefined;
  return truncate(`${WARNING_PREFIX}: ${who.kind} ${who.name} not exposed: ${verdict.message}`, MAX_WARNING);
}

function respond(uid: string, verdict: Verdict, who: { kind: string; name: string }): AdmissionResponse {
  const annotations = auditAnnotations({
    decision: verdict.decision,
    reason: verdict.reason,
    patchPaths: verdict.patch.map((op) => op.path),
  });
  if (verdict.decision === 'denied') {
    return { uid, allowed: false, status: deniedStatus(verdict.message), auditAnnotations: annotations };
  }
  const response: AdmissionResponse = { uid, allowed: true, auditAnnotations: annotations };
  // patchType and patch only when there is something to change: an empty patch says nothing.
  if (verdict.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = encodePatch(verdict.patch);
  }
  const warning = warningFor(verdict, who);
  if (warning) response.warnings = [warning];
  return response;
}

export async function admit(request: AdmissionRequest, context: AdmissionContext): Promise<AdmissionOutcome> {
  const started = performance.now();
  const who = subject(request);
  let verdict: Verdict;
  let response: AdmissionResponse;
  try {
    verdict = await decide(request, context);
    response = respond(request.uid, verdict, who);
  } catch (error) {
    const message = `internal error: ${error instanceof Error ? error.message : String(error)}`;
    verdict = { decision: 'error', reason: 'internal-error', message, patch: [] };
    response = respond(request.uid, verdict, who);
  }
  const record: AuditRecord = boundedRecord({
    time: new Date().toISOString(),
    uid: request.uid,
    user: request.userInfo?.username ?? '',
    operation: request.operation,
    kind: who.kind,
    namespace: namespaceOf(request),
    name: who.name,
    dryRun: request.dryRun === true,
    decision: verdict.decision,
    reason: verdict.reason,
    message: verdict.message,
    patchPaths: verdict.patch.map((op) => op.path),
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
  });
  return { response, record };
}
